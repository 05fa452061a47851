"""The example service: a small order flow showing filters, replies, retries, dead letters."""
