"""Benchmarks: suites of generated instances, the direct highspy formulation, reports."""
