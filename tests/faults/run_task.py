"""Run one socialcare task in its own process, as a qcluster worker would (for kill tests).

python -m tests.faults.run_task socialcare.tasks.send_post <post id>
"""

from __future__ import annotations

import sys

import django


def main(path: str, *args: str) -> None:
    django.setup()
    from django.utils.module_loading import import_string

    import_string(path)(*(int(a) for a in args))
    print("FINISHED", flush=True)


if __name__ == "__main__":
    main(*sys.argv[1:])
