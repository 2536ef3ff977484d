"""Runners: plan a run, reach hosts, run the harness, store the results."""

__version__ = "0.1.0"
