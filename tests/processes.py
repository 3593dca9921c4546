"""Server processes a test starts and kills: each in its own process group, its output in a log
file, stopped (SIGTERM, then SIGKILL to the whole group) when the test ends, also when it fails
or pytest gets SIGTERM or Ctrl-C; an ``atexit`` hook kills whatever is left if pytest exits some
other way. Shared by the scale-out test (tests/scaleout) and the embedded-default fault test
(tests/embedded).
"""

from __future__ import annotations

import atexit
import contextlib
import os
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
STOP_TIMEOUT = 20

#: Process groups started through this module and not yet reaped: killed at interpreter exit.
_GROUPS: set[int] = set()


def _kill_groups() -> None:
    for pgid in list(_GROUPS):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, signal.SIGKILL)
        _GROUPS.discard(pgid)


atexit.register(_kill_groups)


def track(popen: subprocess.Popen) -> None:
    """Kill ``popen``'s process group at interpreter exit if it is still there (a process
    started with ``start_new_session=True`` elsewhere)."""
    _GROUPS.add(popen.pid)


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def tail(path: Path, lines: int = 30) -> str:
    text = path.read_text(errors="replace") if path.exists() else ""
    return "\n".join(text.splitlines()[-lines:])


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """SIGTERM to pytest unwinds like Ctrl-C, so the fixtures stop their processes (Python's
    default for SIGTERM is to die on the spot)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def stop_group(popen: subprocess.Popen, timeout: float) -> None:
    """SIGTERM to the process's group, SIGKILL to the group after ``timeout`` (and to whatever
    of the group outlived its leader)."""
    pgid = popen.pid
    if popen.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            popen.wait(timeout=max(timeout, 0.1))
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)
    popen.wait()
    _GROUPS.discard(pgid)


@dataclass
class Process:
    name: str
    popen: subprocess.Popen
    log: Path
    #: Killed on purpose by the test: not an error when found dead.
    killed: bool = False

    def alive(self) -> bool:
        return self.popen.poll() is None

    def tail(self, lines: int = 30) -> str:
        return tail(self.log, lines)


@dataclass
class ProcessGroups:
    """The processes of one test run: started in ``workdir`` logs with ``env``."""

    env: dict[str, str]
    workdir: Path
    processes: list[Process] = field(default_factory=list)

    def start(
        self,
        name: str,
        args: list[str],
        env: dict[str, str] | None = None,
        pass_fds: tuple[int, ...] = (),
    ) -> Process:
        log = self.workdir / f"{name}.log"
        handle = log.open("ab")  # O_APPEND: lines of forked workers never overwrite
        try:
            popen = subprocess.Popen(
                args,
                cwd=ROOT,
                env={**self.env, **(env or {})},
                stdout=handle,
                stderr=subprocess.STDOUT,
                pass_fds=pass_fds,
                start_new_session=True,  # its own process group: stopped with all its children
            )
        finally:
            handle.close()
        _GROUPS.add(popen.pid)
        process = Process(name, popen, log)
        self.processes.append(process)
        return process

    def process(self, name: str) -> Process:
        return next(p for p in self.processes if p.name == name)

    def live(self, prefix: str) -> list[Process]:
        return [p for p in self.processes if p.name.startswith(prefix) and not p.killed]

    def check_alive(self) -> None:
        for process in self.processes:
            if not process.killed and not process.alive():
                raise AssertionError(
                    f"{process.name} exited with code {process.popen.returncode}:\n{process.tail()}"
                )

    def logs(self, prefix: str) -> list[str]:
        lines = []
        for process in self.processes:
            if process.name.startswith(prefix) and process.log.exists():
                lines += process.log.read_text(errors="replace").splitlines()
        return lines

    def tails(self, lines: int = 15) -> str:
        """The last lines of every process's log, for a failure message."""
        return "\n".join(
            f"--- {p.name} ({'killed' if p.killed else 'exit ' + str(p.popen.poll())}"
            f"{'' if p.popen.poll() is not None else ', running'}):\n{p.tail(lines)}"
            for p in self.processes
        )

    def kill_group(self, process: Process) -> None:
        """SIGKILL to the process and all its children: a machine lost."""
        process.killed = True
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.popen.pid, signal.SIGKILL)
        process.popen.wait(timeout=STOP_TIMEOUT)
        _GROUPS.discard(process.popen.pid)

    def stop(self) -> None:
        """SIGTERM (the servers and qcluster finish what they are doing), then SIGKILL."""
        deadline = time.monotonic() + STOP_TIMEOUT
        for process in self.processes:
            if process.alive():
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.popen.pid, signal.SIGTERM)
        for process in self.processes:
            stop_group(process.popen, deadline - time.monotonic())
