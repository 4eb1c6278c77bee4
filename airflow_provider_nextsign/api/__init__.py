"""Plain-Python client of the NextSign HTTP API (never imports Airflow)."""
