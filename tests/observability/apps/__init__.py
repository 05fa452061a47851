"""Apps and processes the observability tests run as real ``tidal`` processes."""
