"""The example service: a small order flow that shows filtering, replies, retries and dead letters."""
