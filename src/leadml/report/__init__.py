"""PNG plots and the one-page run report."""
