"""MLflow: the registry, its aliases, and run logging."""
