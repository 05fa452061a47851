"""Small Apps served by `tidal run` in subprocess tests."""
