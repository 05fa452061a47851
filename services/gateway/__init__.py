"""The ingest gateway: CloudEvents and signed webhooks in over HTTP, validated events out."""
