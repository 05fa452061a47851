"""Benchmarks: tidal side by side with a baseline, in one run; results go to docs/benchmarks.md."""
