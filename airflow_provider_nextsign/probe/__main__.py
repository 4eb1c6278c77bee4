"""``python -m airflow_provider_nextsign.probe --conn-id nextsign_test``."""

import sys

from airflow_provider_nextsign.probe.cli import main

sys.exit(main())
