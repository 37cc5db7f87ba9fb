"""Reading, validating and mapping input tables; the synthetic funnel."""
