"""The scores store's revisions, oldest first: v0001 is the baseline (the tables of 2026-12)."""
