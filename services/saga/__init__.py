"""The order saga: placed -> stock reserved -> paid -> shipped, compensated on failure."""
