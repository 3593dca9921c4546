"""Database settings socialcare needs from a host, importable from a settings module (nothing
here touches Django's settings).

``SQLITE_OPTIONS``: what a SQLite ``DATABASES`` entry needs when a web server and a qcluster
worker write at once (wait for the lock, take it at the start of a transaction, WAL so readers
do not block the writer). Check ``socialcare.W012`` warns when they are missing.
"""

from __future__ import annotations

from typing import Any

SQLITE_OPTIONS: dict[str, Any] = {
    "transaction_mode": "IMMEDIATE",
    "timeout": 20,
    "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
}
