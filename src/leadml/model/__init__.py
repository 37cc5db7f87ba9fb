"""Labels, split, leakage guard, fit, calibration, baselines and evaluation: pure, no I/O."""
