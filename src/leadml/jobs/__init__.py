"""Orchestration: train, score, retrain and drift wire the pure stages to I/O."""
