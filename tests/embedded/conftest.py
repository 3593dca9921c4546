"""Fixtures of the embedded-default fault test: the demo's SQLite database, ``runserver`` and one
``qcluster`` on django-q2's ORM broker, as ``scripts/demo.sh`` runs them.

The demo database is built once per session (``manage.py socialcare_demo --no-serve``, as the
browser tests do) and copied for each test, which then starts the web server and the worker in
their own process groups (tests/processes.py), kills and restarts the worker, and reads the
database file directly (read-only ``sqlite3``: WAL lets it read while the processes write).
The pytest run's own test database is not used.

These tests run only when asked for (``pytest tests/embedded``, or
``SOCIALCARE_EMBEDDED_TESTS=1``; scripts/test.sh's full run does): a plain ``pytest``
deselects them. They run on SQLite only (``SOCIALCARE_TEST_DB=postgres`` skips them: the
embedded default is SQLite). The processes' logs are copied to ``$SOCIALCARE_ARTIFACTS_DIR``
(default ``<repo>/artifacts/embedded/``) when a test fails.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import shutil
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.opt_in import mark_or_leave_out
from tests.processes import ROOT, ProcessGroups, free_port, sigterm_as_interrupt

HERE = Path(__file__).resolve().parent
SETTINGS = "tests.embedded.settings"
START_TIMEOUT = 60
#: Environment passed on to the processes; everything else (DJANGO_SETTINGS_MODULE, the test
#: run's SOCIALCARE_* variables) is left out.
KEEP = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "SYSTEMROOT", "VIRTUAL_ENV")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "embedded: starts runserver and qcluster on the demo's SQLite database (tests/embedded)",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark the embedded tests; leave them out of a run that did not ask for them."""
    mark_or_leave_out(config, items, HERE, "SOCIALCARE_EMBEDDED_TESTS", "embedded")


#: Whether the test's call phase failed: its processes' logs are then kept.
FAILED = pytest.StashKey[bool]()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> object:
    report = yield
    if report.when == "call":
        item.stash[FAILED] = report.failed
    return report


def artifacts_dir() -> Path:
    base = os.environ.get("SOCIALCARE_ARTIFACTS_DIR")
    path = Path(base) / "embedded" if base else ROOT / "artifacts" / "embedded"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _env(var_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k in KEEP}
    return env | {
        "DJANGO_SETTINGS_MODULE": SETTINGS,
        "SOCIALCARE_VAR_DIR": str(var_dir),
        "SOCIALCARE_DEMO_PASSWORD": "embedded-" + secrets.token_urlsafe(9),
        "SOCIALCARE_EMBEDDED_Q_NAME": f"socialcare-embedded-{os.getpid()}",
        "PYTHONUNBUFFERED": "1",
    }


def manage(args: list[str], env: dict[str, str], log: Path, timeout: float = 300) -> str:
    """A management command run to completion; its output is logged to ``log`` and returned."""
    done = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=timeout,
    )
    with log.open("a") as handle:
        handle.write(f"$ manage.py {' '.join(args)}\n{done.stdout}\n")
    if done.returncode != 0:
        pytest.fail(f"manage.py {' '.join(args)} failed; see {log}:\n{done.stdout[-3000:]}")
    return done.stdout


@dataclass
class Embedded(ProcessGroups):
    """One copy of the demo: its database file, its web server and its worker(s)."""

    db_path: Path = Path()
    url: str = ""

    # Processes -------------------------------------------------------------------------------
    def start_web(self) -> None:
        port = free_port()
        self.start(
            "web",
            [sys.executable, "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload",
             "--insecure"],
        )  # fmt: skip
        self.url = f"http://127.0.0.1:{port}"

    def start_worker(self, name: str) -> None:
        self.start(name, [sys.executable, "manage.py", "qcluster"])

    def wait_ready(self, names: list[str]) -> float:
        """Until the web server answers its health check and each named qcluster logged that
        it runs; returns the seconds it took."""
        import httpx

        began = time.monotonic()
        waiting = set(names)
        with httpx.Client(timeout=2, trust_env=False) as client:
            while waiting:
                for name in sorted(waiting):
                    process = self.process(name)
                    if not process.alive():
                        pytest.fail(
                            f"{name} exited with code {process.popen.returncode}:\n{process.tail()}"
                        )
                    if name == "web":
                        try:
                            ready = client.get(self.url + "/socialcare/health/").status_code == 200
                        except httpx.HTTPError:
                            ready = False
                    else:
                        ready = any(
                            re.search(r"Q Cluster .* running", line) for line in self.logs(name)
                        )
                    if ready:
                        waiting.discard(name)
                if waiting and time.monotonic() - began > START_TIMEOUT:
                    tails = "\n".join(f"--- {n}\n{self.process(n).tail()}" for n in waiting)
                    pytest.fail(f"not ready after {START_TIMEOUT} s: {sorted(waiting)}\n{tails}")
                if waiting:
                    time.sleep(0.1)
        return time.monotonic() - began

    def manage(self, args: list[str], timeout: float = 120) -> str:
        return manage(args, self.env, self.workdir / "manage.log", timeout)

    def shell(self, code: str) -> dict:
        """Run ``code`` in ``manage.py shell``; it prints one JSON line last, which is returned."""
        out = self.manage(["shell", "-c", code])
        return json.loads(out.strip().splitlines()[-1])

    def errors(self, limit: int = 8) -> list[str]:
        """The exception lines and ERROR records the processes logged (their last few)."""
        found = [
            line
            for line in self.logs("")
            if re.match(r"[A-Za-z_][\w.]*(Error|Exception)\b", line) or " ERROR " in line
        ]
        return found[-limit:]

    # The database ----------------------------------------------------------------------------
    @contextlib.contextmanager
    def db(self) -> Iterator[sqlite3.Connection]:
        """A read-only connection to the demo's database file."""
        conn = sqlite3.connect(f"file:{self.db_path}?mode=ro", uri=True, timeout=20)
        try:
            yield conn
        finally:
            conn.close()

    def query(self, sql: str, params: tuple = ()) -> list[tuple]:
        with self.db() as conn:
            return conn.execute(sql, params).fetchall()

    def scalar(self, sql: str, params: tuple = ()) -> object:
        return self.query(sql, params)[0][0]

    def has_table(self, name: str) -> bool:
        return bool(
            self.query("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (name,))
        )


@pytest.fixture(scope="session")
def demo_database(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo's database, built once: migrated, the Acme demo data, schedules, playbooks and
    roles (``socialcare_demo --no-serve``). Each test works on a copy."""
    if os.environ.get("SOCIALCARE_TEST_DB") == "postgres":
        pytest.skip("the embedded default is SQLite: tests/embedded runs on SQLite only")
    var_dir = tmp_path_factory.mktemp("embedded-demo")
    manage(["socialcare_demo", "--no-serve"], _env(var_dir), var_dir / "demo-setup.log")
    database = var_dir / "demo.sqlite3"
    assert database.exists(), f"the demo built no database in {var_dir}"
    return database


@pytest.fixture
def embedded(
    demo_database: Path, tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[Embedded]:
    """A copy of the demo's database and the environment of its processes; the test starts
    them. They are stopped when the test ends; on failure their logs go to the artifacts."""
    var_dir = tmp_path / "var"
    var_dir.mkdir()
    # The demo command closed the database: its WAL is checkpointed; copy what is there anyway.
    for suffix in ("", "-wal", "-shm"):
        source = demo_database.with_name(demo_database.name + suffix)
        if source.exists():
            shutil.copy2(source, var_dir / source.name)
    run = Embedded(env=_env(var_dir), workdir=tmp_path, db_path=var_dir / demo_database.name)
    with sigterm_as_interrupt():
        try:
            yield run
        finally:
            run.stop()
            if request.node.stash.get(FAILED, True):
                target = artifacts_dir() / request.node.name
                shutil.rmtree(target, ignore_errors=True)
                target.mkdir(parents=True)
                for log in tmp_path.glob("*.log"):
                    shutil.copy2(log, target / log.name)
                print(f"\nembedded-default test logs: {target}")
