"""Fixtures of the scale-out test: a private Redis server and the web and worker processes.

The test needs PostgreSQL (the pytest run's test database, which the processes share) and
Debian's ``redis-server``. On SQLite it is skipped. Without ``redis-server`` (or the ``redis``
client package) it is skipped locally and fails in CI (``CI=true``), where scripts/test.sh
installs it.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
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

ROOT = Path(__file__).resolve().parent.parent.parent
START_TIMEOUT = 60
STOP_TIMEOUT = 20


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "scaleout: starts web and qcluster processes on PostgreSQL and Redis (tests/scaleout)",
    )


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def unavailable(reason: str) -> None:
    """Skip locally; in CI the scale-out test must run, so a missing piece fails it."""
    if in_ci():
        pytest.fail(f"the scale-out test cannot run in CI: {reason}", pytrace=False)
    pytest.skip(reason)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def skip_unless_postgres() -> None:
    if connection.vendor != "postgresql":
        pytest.skip("the scale-out test runs on PostgreSQL (SOCIALCARE_TEST_DB=postgres)")


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A private ``redis-server`` on a free port, no persistence; its URL."""
    skip_unless_postgres()
    binary = shutil.which("redis-server")
    if binary is None:
        unavailable("redis-server is not installed (Debian: apt-get install redis-server)")
    try:
        import redis
    except ImportError:
        unavailable("the redis package is not installed (pip install -e '.[production]')")
    workdir = tmp_path_factory.mktemp("redis")
    port = free_port()
    log = workdir / "redis.log"
    proc = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(workdir),
         "--save", "", "--appendonly", "no", "--logfile", str(log)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )  # fmt: skip
    url = f"redis://127.0.0.1:{port}/0"
    client = redis.Redis.from_url(url, socket_connect_timeout=1)
    deadline = time.monotonic() + 20
    while True:
        try:
            client.ping()
            break
        except redis.ConnectionError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                text = log.read_text() if log.exists() else ""
                pytest.fail(f"redis-server did not start on port {port}:\n{text[-2000:]}")
            time.sleep(0.05)
    client.close()
    yield url
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@dataclass
class Process:
    name: str
    popen: subprocess.Popen
    log: Path

    def alive(self) -> bool:
        return self.popen.poll() is None

    def tail(self, lines: int = 30) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])


@dataclass
class Cluster:
    """The processes of one scale-out run and how to reach them."""

    env: dict[str, str]
    workdir: Path
    redis_url: str
    queue_name: str
    web_urls: list[str] = field(default_factory=list)
    processes: list[Process] = field(default_factory=list)
    web_server: str = ""

    def start(self, name: str, args: list[str]) -> Process:
        log = self.workdir / f"{name}.log"
        handle = log.open("ab")  # O_APPEND: lines of forked workers never overwrite
        popen = subprocess.Popen(
            args,
            cwd=ROOT,
            env=self.env,
            stdout=handle,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: stopped with all its children
        )
        handle.close()
        process = Process(name, popen, log)
        self.processes.append(process)
        return process

    def start_web(self, count: int, threads: int) -> None:
        """``count`` web servers, each as if on its own machine: gunicorn (one gthread worker
        with ``threads`` threads) when installed, else ``runserver --noreload`` (threaded)."""
        gunicorn = shutil.which("gunicorn", path=str(Path(sys.executable).parent))
        self.web_server = "gunicorn" if gunicorn else "runserver"
        for n in range(count):
            port = free_port()
            if gunicorn:
                args = [gunicorn, "project.wsgi:application", "--bind", f"127.0.0.1:{port}",
                        "--workers", "1", "--worker-class", "gthread", "--threads", str(threads),
                        "--backlog", "2048", "--timeout", "60", "--graceful-timeout", "10",
                        "--keep-alive", "5",
                        "--log-level", "warning"]  # fmt: skip
            else:
                args = [sys.executable, "manage.py", "runserver", f"127.0.0.1:{port}",
                        "--noreload"]  # fmt: skip
            self.start(f"web{n + 1}", args)
            self.web_urls.append(f"http://127.0.0.1:{port}")

    def start_workers(self, count: int) -> None:
        for n in range(count):
            self.start(f"qcluster{n + 1}", [sys.executable, "manage.py", "qcluster"])

    def wait_ready(self) -> None:
        """Every web server answers its health check; every qcluster says it is running."""
        import httpx

        deadline = time.monotonic() + START_TIMEOUT
        waiting = {p.name for p in self.processes}
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
                    if process.name.startswith("web"):
                        url = self.web_urls[int(process.name[3:]) - 1]
                        try:
                            ready = client.get(url + "/socialcare/health/").status_code == 200
                        except httpx.HTTPError:
                            ready = False
                    else:
                        ready = self.running_clusters() >= self.cluster_count
                    if ready:
                        waiting.discard(process.name)
                if waiting and time.monotonic() > deadline:
                    tails = "\n\n".join(
                        f"--- {p.name}\n{p.tail()}" for p in self.processes if p.name in waiting
                    )
                    pytest.fail(f"not ready after {START_TIMEOUT} s: {sorted(waiting)}\n{tails}")
                if waiting:
                    time.sleep(0.2)

    @property
    def cluster_count(self) -> int:
        return sum(p.name.startswith("qcluster") for p in self.processes)

    def running_clusters(self) -> int:
        """Clusters whose guard runs: each keeps a status key (3 s expiry) in Redis."""
        import redis

        with redis.Redis.from_url(self.redis_url) as client:
            return len(client.keys(f"django_q:{self.queue_name}:cluster:*"))

    def check_alive(self) -> None:
        for process in self.processes:
            if not process.alive():
                raise AssertionError(
                    f"{process.name} exited with code {process.popen.returncode}:\n{process.tail()}"
                )

    @property
    def queue_key(self) -> str:
        """The Redis list django-q2's broker keeps the tasks in."""
        return f"django_q:{self.queue_name}:q"

    def logs(self, prefix: str) -> list[str]:
        lines = []
        for process in self.processes:
            if process.name.startswith(prefix) and process.log.exists():
                lines += process.log.read_text(errors="replace").splitlines()
        return lines

    def errors(self, limit: int = 5) -> list[str]:
        """The last ERROR records the processes logged (JSON lines): message and exception."""
        import json

        found = []
        for line in self.logs(""):
            if line.startswith("{") and '"level": "ERROR"' in line:
                entry = json.loads(line)
                # The traceback's exception lines, e.g. "django.db.utils.OperationalError: ..."
                causes = [
                    x
                    for x in entry.get("exc", "").splitlines()
                    if re.match(r"[A-Za-z_][\w.]*(Error|Exception|Detected)\b", x)
                ]
                found.append(f"{entry['logger']}: {entry['message']} {causes[-1:]}")
        return found[-limit:]

    def stop(self) -> None:
        """SIGTERM (gunicorn and qcluster finish what they are doing), then SIGKILL."""
        for process in self.processes:
            if process.alive():
                os.killpg(process.popen.pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT
        for process in self.processes:
            try:
                process.popen.wait(timeout=max(deadline - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                os.killpg(process.popen.pid, signal.SIGKILL)
                process.popen.wait()


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
    try:
        yield run
    finally:
        run.stop()
