"""Settings of the web and qcluster processes of the embedded-default fault test (tests/embedded).

The demo's settings (project/settings.py: SQLite in ``SOCIALCARE_VAR_DIR`` with WAL, django-q2's
ORM broker, two workers, the console reply transport) with the broker's task ``timeout`` and
``retry`` shortened so that a task whose worker was killed is handed out again within seconds:
the demo's 120 s retry would make the test wait minutes for what a production deployment sets
to suit its own work (docs/reliability.md, "Embedded default under faults"). Nothing else
differs from what ``scripts/demo.sh`` runs.
"""

import os

from project.settings import *  # noqa: F403
from project.settings import Q_CLUSTER as DEMO_Q_CLUSTER

#: Seconds a task may run before its worker is replaced; a micro-batch of 20 deliveries on
#: SQLite takes well under this.
TASK_TIMEOUT = 15
#: Seconds after which the ORM broker hands out again a task nobody acknowledged (a killed
#: worker's): more than the timeout, as django-q2 requires.
BROKER_RETRY = 20

Q_CLUSTER = {
    **DEMO_Q_CLUSTER,
    "name": os.environ.get("SOCIALCARE_EMBEDDED_Q_NAME", "socialcare-embedded"),
    "timeout": TASK_TIMEOUT,
    "retry": BROKER_RETRY,
}
