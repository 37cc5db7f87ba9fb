"""Drift profiles and reports; insights for the notebooks."""
