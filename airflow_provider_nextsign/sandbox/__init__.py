"""Local NextSign-compatible server for demos, tests and users' own DAG tests."""
