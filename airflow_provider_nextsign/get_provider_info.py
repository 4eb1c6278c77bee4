"""Provider metadata read by Airflow's ProvidersManager (entry point ``apache_airflow_provider``)."""

from __future__ import annotations

from typing import Any

from airflow_provider_nextsign import __version__, connection_form

CONN_TYPE = "nextsign"

# Airflow 3.2+ builds the connection form from these; the hook derives its form from the same source.
CONN_FIELDS: dict[str, dict[str, Any]] = {**connection_form.CONN_FIELDS, **connection_form.RECEIVER_FIELDS}
UI_FIELD_BEHAVIOUR = connection_form.UI_FIELD_BEHAVIOUR

# The [nextsign] section: the Airflow 3 webhook receiver (airflow_provider_nextsign.webhooks).
CONFIG: dict[str, Any] = {
    "nextsign": {
        "description": "The NextSign provider: the shared poller of deferred sensors, and the webhook "
        "receiver on the Airflow 3 API server.",
        "options": {
            "min_poll_interval": {
                "description": "Floor in seconds of every deferred NextSignCaseSensor's poll interval: "
                "one sensor with a tiny poke_interval cannot make the triggerer's shared poller spend the "
                "request budget of every other sensor.",
                "version_added": "0.1.0",
                "type": "float",
                "example": "5",
                "default": "5",
            },
            "webhook_receiver": {
                "description": "Mount the webhook receiver under /nextsign on the API server.",
                "version_added": "0.1.0",
                "type": "boolean",
                "example": "True",
                "default": "False",
            },
            "webhook_conn_id": {
                "description": "The NextSign connection behind POST /nextsign/webhooks "
                "(POST /nextsign/webhooks/<conn_id> serves any other).",
                "version_added": "0.1.0",
                "type": "string",
                "example": "nextsign_default",
                "default": "nextsign_default",
            },
            "webhook_allowed_conn_ids": {
                "description": "Comma-separated ids of the connections POST /nextsign/webhooks/<conn_id> "
                "serves (webhook_conn_id is always served). Empty: any NextSign connection. Requests for "
                "other ids are refused with 401 before the connection is looked up.",
                "version_added": "0.1.0",
                "type": "string",
                "example": "nextsign_default,nextsign_acme",
                "default": "",
            },
            "webhook_body_timeout": {
                "description": "Seconds a sender whose secret header matched gets to send the whole body; "
                "slower senders are answered 408.",
                "version_added": "0.1.0",
                "type": "float",
                "example": "10",
                "default": "10",
            },
            "webhook_secret_header": {
                "description": "The custom header that carries the shared secret.",
                "version_added": "0.1.0",
                "type": "string",
                "example": "X-Webhook-Token",
                "default": "X-Webhook-Token",
            },
            "webhook_secret": {
                "description": "Shared secret for connections without a 'webhook_secret' extra.",
                "version_added": "0.1.0",
                "type": "string",
                "sensitive": True,
                "example": None,
                "default": "",
            },
            "webhook_partition_by_case": {
                "description": "Give each asset event the case id as partition key, so a DAG on "
                "PartitionedAssetTimetable runs once per case. Turn off for DAGs on a plain asset schedule. "
                "Needs Airflow 3.2+: on 3.1 events never carry a partition key.",
                "version_added": "0.1.0",
                "type": "boolean",
                "example": "True",
                "default": "True",
            },
        },
    }
}


def get_provider_info() -> dict[str, Any]:
    """Return the provider description Airflow reads at start-up."""
    return {
        "package-name": "airflow-provider-nextsign",
        "name": "NextSign",
        "description": "NextSign e-signatures (MitID, BankID): forms, signing cases, documents, reporting.",
        "versions": [__version__],
        "integrations": [
            {
                "integration-name": "NextSign",
                "external-doc-url": "https://docs.nextsign.dk/docs",
                "tags": ["service"],
            }
        ],
        "hooks": [
            {
                "integration-name": "NextSign",
                "python-modules": ["airflow_provider_nextsign.hooks.nextsign"],
            }
        ],
        "operators": [
            {
                "integration-name": "NextSign",
                "python-modules": [
                    "airflow_provider_nextsign.operators.forms",
                    "airflow_provider_nextsign.operators.cases",
                    "airflow_provider_nextsign.operators.documents",
                    "airflow_provider_nextsign.operators.reporting",
                ],
            }
        ],
        "sensors": [
            {
                "integration-name": "NextSign",
                "python-modules": ["airflow_provider_nextsign.sensors.case"],
            }
        ],
        "triggers": [
            {
                "integration-name": "NextSign",
                "python-modules": [
                    "airflow_provider_nextsign.triggers.case",
                    "airflow_provider_nextsign.triggers.events",
                ],
            }
        ],
        "asset-uris": [
            {
                "schemes": ["nextsign"],
                "handler": "airflow_provider_nextsign.assets.sanitize_uri",
                "factory": "airflow_provider_nextsign.assets.create_asset",
            }
        ],
        "config": CONFIG,
        "extra-links": ["airflow_provider_nextsign.links.NextSignCaseLink"],
        "connection-types": [
            {
                "hook-class-name": "airflow_provider_nextsign.hooks.nextsign.NextSignHook",
                "hook-name": "NextSign",
                "connection-type": CONN_TYPE,
                "conn-fields": CONN_FIELDS,
                "ui-field-behaviour": UI_FIELD_BEHAVIOUR,
            }
        ],
    }
