"""NextSign triggers (async only)."""
