"""NextSign operators: forms, cases, documents and reporting (one module each)."""
