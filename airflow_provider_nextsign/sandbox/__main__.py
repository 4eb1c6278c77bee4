"""``python -m airflow_provider_nextsign.sandbox``."""

import sys

from airflow_provider_nextsign.sandbox.cli import main

sys.exit(main())
