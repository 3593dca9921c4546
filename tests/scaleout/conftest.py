"""Fixtures of the scale-out test: a private Redis server and the web and worker processes.

The test needs PostgreSQL (the pytest run's test database, which the processes share) and
Debian's ``redis-server``. On SQLite it is skipped. Without ``redis-server`` (or the ``redis``
client package) it is skipped locally and fails in CI (``CI=true``), where scripts/test.sh
installs it.

Every process runs in its own process group and is stopped (SIGTERM, then SIGKILL to the whole
group) when the test ends, also when it fails, times out in one of its bounded waits, or pytest
gets SIGTERM or Ctrl-C; an ``atexit`` hook kills whatever is left if pytest exits some other way
(tests/processes.py, shared with tests/embedded).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

import pytest
from django.conf import settings
from django.db import connection

from tests.processes import (
    ROOT,
    STOP_TIMEOUT,
    Process,
    ProcessGroups,
    free_port,
    in_ci,
    sigterm_as_interrupt,
    stop_group,
    tail,
    track,
)

START_TIMEOUT = 60
__all__ = ["ROOT", "STOP_TIMEOUT", "Process", "free_port", "in_ci", "stop_group", "tail"]


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "scaleout: starts web and qcluster processes on PostgreSQL and Redis (tests/scaleout)",
    )


def unavailable(reason: str) -> None:
    """Skip locally; in CI the scale-out test must run, so a missing piece fails it."""
    if in_ci():
        pytest.fail(f"the scale-out test cannot run in CI: {reason}", pytrace=False)
    pytest.skip(reason)


def skip_unless_postgres() -> None:
    if connection.vendor != "postgresql":
        pytest.skip("the scale-out test runs on PostgreSQL (SOCIALCARE_TEST_DB=postgres)")


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A private ``redis-server`` on a free port of 127.0.0.1 (never 6379), no persistence; its
    URL."""
    skip_unless_postgres()
    binary = shutil.which("redis-server")
    if binary is None:
        unavailable("redis-server is not installed (Debian: apt-get install redis-server)")
    try:
        import redis
    except ImportError:
        unavailable("the redis package is not installed (pip install -e '.[dev]')")
    workdir = tmp_path_factory.mktemp("redis")
    log = workdir / "redis.log"
    proc = None
    for attempt in range(3):  # a free port can be taken between choosing and binding it
        port = free_port()
        proc = subprocess.Popen(
            [binary, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(workdir),
             "--save", "", "--appendonly", "no", "--logfile", str(log)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
        track(proc)
        url = f"redis://127.0.0.1:{port}/0"
        client = redis.Redis.from_url(url, socket_connect_timeout=1)
        deadline = time.monotonic() + 20
        while proc.poll() is None and time.monotonic() < deadline:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                time.sleep(0.05)
        client.close()
        if proc.poll() is None and time.monotonic() < deadline:
            break
        stop_group(proc, 1)
        if attempt == 2:
            pytest.fail(f"redis-server did not start (last port {port}):\n{tail(log)}")
    assert proc is not None
    try:
        yield url
    finally:
        stop_group(proc, 10)


@dataclass
class Cluster(ProcessGroups):
    """The processes of one scale-out run and how to reach them."""

    redis_url: str = ""
    queue_name: str = ""
    web_urls: dict[str, str] = field(default_factory=dict)
    web_server: str = ""

    def start_web(self, count: int, threads: int) -> None:
        """``count`` web servers, each as if on its own machine: gunicorn (one gthread worker
        with ``threads`` threads) when installed, else ``runserver --noreload`` (threaded).
        gunicorn gets a socket this process has already bound (no port race)."""
        gunicorn = shutil.which("gunicorn", path=str(Path(sys.executable).parent))
        self.web_server = "gunicorn" if gunicorn else "runserver"
        for n in range(count):
            name = f"web{n + 1}"
            if gunicorn:
                sock = socket.socket()
                sock.bind(("127.0.0.1", 0))
                sock.listen(2048)
                port = sock.getsockname()[1]
                args = [gunicorn, "project.wsgi:application", "--bind", f"fd://{sock.fileno()}",
                        "--workers", "1", "--worker-class", "gthread", "--threads", str(threads),
                        "--backlog", "2048", "--timeout", "60", "--graceful-timeout", "10",
                        "--keep-alive", "5",
                        "--log-level", "warning"]  # fmt: skip
                try:
                    self.start(name, args, pass_fds=(sock.fileno(),))
                finally:
                    sock.close()  # gunicorn holds its own copy
            else:
                port = free_port()
                args = [sys.executable, "manage.py", "runserver", f"127.0.0.1:{port}",
                        "--noreload"]  # fmt: skip
                self.start(name, args)
            self.web_urls[name] = f"http://127.0.0.1:{port}"

    def start_worker(self, name: str) -> Process:
        return self.start(name, [sys.executable, "manage.py", "qcluster"])

    def wait_ready(self, names: list[str] | None = None) -> None:
        """Every web server (of ``names``) answers its health check; as many clusters keep a
        status key in Redis as there are live qcluster processes."""
        import httpx

        deadline = time.monotonic() + START_TIMEOUT
        waiting = set(names) if names is not None else {p.name for p in self.processes}
        with httpx.Client(timeout=2, trust_env=False) as client:
            while waiting:
                for process in self.processes:
                    if process.name not in waiting:
                        continue
                    if not process.alive():
                        pytest.fail(
                            f"{process.name} exited with code {process.popen.returncode}:\n"
                            f"{process.tail()}"
                        )
                    if process.name in self.web_urls:
                        try:
                            url = self.web_urls[process.name] + "/socialcare/health/"
                            ready = client.get(url).status_code == 200
                        except httpx.HTTPError:
                            ready = False
                    else:
                        ready = self.running_clusters() >= len(self.live("qcluster"))
                    if ready:
                        waiting.discard(process.name)
                if waiting and time.monotonic() > deadline:
                    tails = "\n\n".join(
                        f"--- {p.name}\n{p.tail()}" for p in self.processes if p.name in waiting
                    )
                    pytest.fail(f"not ready after {START_TIMEOUT} s: {sorted(waiting)}\n{tails}")
                if waiting:
                    time.sleep(0.2)

    def running_clusters(self) -> int:
        """Clusters whose guard runs: each keeps a status key (3 s expiry) in Redis."""
        import redis

        with redis.Redis.from_url(self.redis_url) as client:
            return len(client.keys(f"django_q:{self.queue_name}:cluster:*"))

    @property
    def queue_key(self) -> str:
        """The Redis list django-q2's broker keeps the tasks in."""
        return f"django_q:{self.queue_name}:q"

    def records(self, prefix: str) -> Iterator[dict]:
        """The JSON log records of the processes whose name starts with ``prefix``."""
        for line in self.logs(prefix):
            if line.startswith("{"):
                with contextlib.suppress(json.JSONDecodeError):
                    yield json.loads(line)

    def errors(self, limit: int = 5) -> list[str]:
        """The last ERROR/CRITICAL records the processes logged: message and exception."""
        found = []
        for entry in self.records(""):
            if entry.get("level") not in ("ERROR", "CRITICAL"):
                continue
            # The traceback's exception lines, e.g. "django.db.utils.OperationalError: ..."
            causes = [
                x
                for x in entry.get("exc", "").splitlines()
                if re.match(r"[A-Za-z_][\w.]*(Error|Exception|Detected)\b", x)
            ]
            found.append(f"{entry.get('logger')}: {entry.get('message')} {causes[-1:]}")
        return found[-limit:]

    # Faults ---------------------------------------------------------------------------------
    def busy_worker(self, process: Process, timeout: float = 10) -> tuple[int | None, bool]:
        """A process of ``process``'s tree whose database connection is inside socialcare's
        work right now (a query or an open transaction on socialcare's tables: a delivery being
        ingested). Returns (pid, True), or (some pid with a database connection, False) when
        none was caught busy within ``timeout`` (e.g. the database is reached by unix socket)."""
        import psutil

        db_port = int(connection.settings_dict.get("PORT") or 5432)
        dbname = connection.settings_dict["NAME"]
        deadline = time.monotonic() + timeout
        fallback = None
        with connection.cursor() as cursor:
            while time.monotonic() < deadline:
                ports = {}
                with contextlib.suppress(psutil.Error):
                    for child in psutil.Process(process.popen.pid).children(recursive=True):
                        with contextlib.suppress(psutil.Error):
                            for conn in child.net_connections(kind="tcp"):
                                if conn.raddr and conn.raddr.port == db_port:
                                    ports[conn.laddr.port] = child.pid
                if ports and fallback is None:
                    fallback = next(iter(ports.values()))
                cursor.execute(
                    "SELECT client_port FROM pg_stat_activity WHERE datname = %s"
                    " AND state IN ('active', 'idle in transaction')"
                    " AND query ILIKE %s AND query NOT ILIKE %s",
                    [dbname, "%socialcare\\_%", "%django\\_q%"],
                )
                for (port,) in cursor.fetchall():
                    if port in ports:
                        return ports[port], True
                time.sleep(0.005)
        return fallback, False


def database_url() -> str:
    """The pytest run's test database (e.g. test_socialcare_gw0) as a URL."""
    db = connection.settings_dict
    user = quote(db.get("USER") or "", safe="")
    password = quote(db.get("PASSWORD") or "", safe="")
    auth = f"{user}:{password}@" if password else (f"{user}@" if user else "")
    host = db.get("HOST") or "127.0.0.1"
    port = db.get("PORT") or "5432"
    return f"postgres://{auth}{host}:{port}/{quote(db['NAME'], safe='')}"


@pytest.fixture
def cluster(transactional_db: None, redis_server: str, tmp_path: Path) -> Iterator[Cluster]:
    """The environment of the processes (production profile, test database, private Redis);
    the test starts them. They are stopped before the test database is flushed."""
    skip_unless_postgres()
    name = f"socialcare-scaleout-{os.getpid()}"
    keep = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "SYSTEMROOT", "VIRTUAL_ENV")
    env = {k: v for k, v in os.environ.items() if k in keep}
    env |= {
        "DJANGO_SETTINGS_MODULE": "tests.settings_scaleout",
        "SOCIALCARE_SCALEOUT_BASE": settings.SETTINGS_MODULE,
        "DJANGO_SECRET_KEY": "scaleout-" + os.urandom(32).hex(),
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
        "DATABASE_URL": database_url(),
        "SOCIALCARE_REDIS_URL": redis_server,
        "SOCIALCARE_ENCRYPTION_KEYS": ",".join(settings.SOCIALCARE["ENCRYPTION_KEYS"]),
        "SOCIALCARE_REPLY_TRANSPORT": "console",
        "SOCIALCARE_Q_NAME": name,
        "SOCIALCARE_VAR_DIR": str(tmp_path / "var"),
        "SOCIALCARE_LOG_FORMAT": "json",
        "PYTHONUNBUFFERED": "1",
    }
    run = Cluster(env=env, workdir=tmp_path, redis_url=redis_server, queue_name=name)
    with sigterm_as_interrupt():
        try:
            yield run
        finally:
            run.stop()
