"""A worker process for the kill test: processes one delivery like ``socialcare.tasks`` does,
but stops for good after ingesting the first event (inside the delivery's transaction), so the
test can SIGKILL it mid-delivery. Test-only: it wraps ``ingest`` in this process alone.

    python -m tests.faults.paused_worker <delivery id>
"""

from __future__ import annotations

import sys
import time

import django


def main(delivery_id: int) -> None:
    django.setup()
    from socialcare import tasks
    from socialcare.services import ingest

    real = ingest.ingest
    calls = 0

    def ingest_then_hang(channel, event):
        nonlocal calls
        result = real(channel, event)
        calls += 1
        if calls == 1:
            print("PAUSED", flush=True)
            time.sleep(600)
        return result

    ingest.ingest = ingest_then_hang
    tasks.process_delivery(delivery_id)
    print("FINISHED", flush=True)


if __name__ == "__main__":
    main(int(sys.argv[1]))
