"""NextSign webhook receiver for the Airflow 3 API server (opt-in plugin, mounted under ``/nextsign``).

Turn it on with ``[nextsign] webhook_receiver = True`` (``AIRFLOW__NEXTSIGN__WEBHOOK_RECEIVER=True``);
NextSign then posts to ``https://<airflow>/nextsign/webhooks``. See the event-driven guide.
"""
