"""Helpers run in subprocesses by test_webhook_receiver_postgres: Airflow there uses PostgreSQL.

``python -m tests.e2e._receiver_process register`` parses the webhook example DAG into the metadata
DB and unpauses it; ``python -m tests.e2e._receiver_process serve PORT`` serves the plugin's receiver
under /nextsign on PORT, like one API-server worker.
"""

from __future__ import annotations

import sys


def register() -> None:
    from tests.e2e.test_webhook_receiver import register_example_dag

    register_example_dag()


def serve(port: int) -> None:
    import uvicorn

    from tests.e2e.test_webhook_receiver import api_server_app

    uvicorn.run(api_server_app(), host="127.0.0.1", port=port, log_level="warning", lifespan="off")


if __name__ == "__main__":
    if sys.argv[1] == "register":
        register()
    else:
        serve(int(sys.argv[2]))
