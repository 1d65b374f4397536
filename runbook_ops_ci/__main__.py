"""``python -m runbook_ops_ci``: the same as the ``runbook-ops-run`` console script."""

import sys

from runbook_ops_ci.cli import main

sys.exit(main())
