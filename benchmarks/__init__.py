"""Benchmarks of tci-gateway: `python -m benchmarks` (see benchmarks/README.md)."""
