"""Benchmarks of the engine: layer sharing on real dependency data, and speed."""
