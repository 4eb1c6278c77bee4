"""pytest plugin (entry point ``pytest11``) offering the ``nextsign_sandbox`` fixture.

Importing this module must stay cheap and must not import airflow: pytest loads it before
any conftest has set ``AIRFLOW_HOME``.
"""
