"""The files service: uploads to a bucket processed as CSV records and image thumbnails."""
