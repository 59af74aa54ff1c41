"""Benchmarks: scripts whose output tables go into the README (not timed tests)."""
