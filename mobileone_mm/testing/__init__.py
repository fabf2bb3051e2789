"""Fixtures shared by the tests, the benchmark and the demo: realistic weights, equivalence checks, demo data."""
