"""Apache Airflow provider for NextSign e-signatures."""

__version__ = "0.1.0"
