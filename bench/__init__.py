"""Benchmarks and their data generator (never run by the test suite)."""
