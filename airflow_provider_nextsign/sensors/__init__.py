"""NextSign sensors."""
