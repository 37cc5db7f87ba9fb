"""Exact TreeSHAP for LightGBM and reasons grouped by business field."""
