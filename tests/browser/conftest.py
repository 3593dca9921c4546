"""Browser tests: Debian's Chromium, driven by Playwright, against the real demo.

The session builds the SQLite demo database in a temporary ``SOCIALCARE_VAR_DIR``
(``manage.py socialcare_demo --no-serve`` with a known ``SOCIALCARE_DEMO_PASSWORD``), adds the
XSS probe (``seed.py``), then runs ``manage.py runserver`` on a free port and ``manage.py
qcluster`` (which sends replies through the console transport) as child processes. Screenshots
and the processes' logs go to ``$SOCIALCARE_ARTIFACTS_DIR`` or ``<repo>/artifacts/browser/``.

These tests run only when asked for: ``pytest tests/browser`` (or ``SOCIALCARE_BROWSER_TESTS=1``);
a plain ``pytest`` deselects them. Without Chromium or the ``playwright`` package they are skipped,
except in CI (``CI=true``), where that is a failure. Playwright never downloads a browser here:
it starts ``$SOCIALCARE_CHROMIUM`` or the system's ``chromium``.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.opt_in import mark_or_leave_out

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
CHROMIUM_CANDIDATES = ("/usr/bin/chromium", "chromium", "chromium-browser")
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--no-first-run",
]
#: Issue #22's screens, (width, height): a laptop, a desktop, a wide screen and a phone.
VIEWPORTS = {
    "laptop": (1280, 800),
    "desktop": (1440, 900),
    "wide": (1920, 1080),
    "phone": (390, 844),
}
try:
    from playwright.sync_api import expect
except ImportError:  # the ``chromium`` fixture says so: a skip, or a failure in CI
    expect = None
else:
    expect.set_options(timeout=10_000)

#: The demo's agent and supervisor (their password is the server's), and the inbox.
AGENT, SUPERVISOR = "maya", "hannah"
INBOX = "/admin/socialcare/case/"
#: Seconds the server and the worker get to start, and to stop before they are killed.
START_TIMEOUT = 60
STOP_TIMEOUT = 15


#: The WCAG contrast ratio of an element's paint on the first opaque background behind it:
#: ``locator.evaluate(CONTRAST)`` for its text ``color``, ``evaluate(CONTRAST, "fill")`` (or
#: ``"stroke"``) for an SVG shape. Returns ``{ratio, paint, bg}``.
CONTRAST = """(el, prop) => {
    const rgb = s => (s.match(/[\\d.]+/g) || []).map(Number);
    const lum = c => {
        const [r, g, b] = c.slice(0, 3).map(v => {
            v /= 255;
            return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4;
        });
        return 0.2126 * r + 0.7152 * g + 0.0722 * b;
    };
    let node = el, bg = null;
    while (node && node.nodeType === 1) {
        const c = rgb(getComputedStyle(node).backgroundColor);
        if (c.length === 3 || (c.length > 3 && c[3] > 0.5)) { bg = c; break; }
        node = node.parentElement;
    }
    bg = bg || [255, 255, 255];
    const paint = getComputedStyle(el)[prop || "color"];
    const [a, b] = [lum(rgb(paint)), lum(bg)].sort((x, y) => y - x);
    return {ratio: (a + 0.05) / (b + 0.05), paint, bg: bg.join(",")};
}"""


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "browser: drives Chromium against the demo server (tests/browser)"
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark the browser tests; leave them out of a run that did not ask for them."""
    mark_or_leave_out(config, items, HERE, "SOCIALCARE_BROWSER_TESTS", "browser")


def unavailable(reason: str) -> None:
    """Skip locally; in CI a browser test that cannot run is a failure, never a skip."""
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"browser tests cannot run in CI: {reason}", pytrace=False)
    pytest.skip(reason)


def find_chromium() -> str | None:
    wanted = os.environ.get("SOCIALCARE_CHROMIUM")
    for candidate in (wanted,) if wanted else CHROMIUM_CANDIDATES:
        path = shutil.which(candidate)
        if path:
            return path
    return None


def artifacts_dir() -> Path:
    path = Path(os.environ.get("SOCIALCARE_ARTIFACTS_DIR") or ROOT / "artifacts" / "browser")
    path.mkdir(parents=True, exist_ok=True)
    for old in [*path.glob("*.png"), *path.glob("*.log")]:  # this run's files only
        old.unlink()
    return path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class DemoServer:
    url: str
    password: str
    artifacts: Path
    xss_case: int
    xss_incident: int = 0
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)

    def check_alive(self) -> None:
        for name, proc in self.processes.items():
            if proc.poll() is not None:
                raise AssertionError(
                    f"the demo {name} exited with code {proc.returncode}; see "
                    f"{self.artifacts / (name + '.log')}"
                )


def _manage(args: list[str], env: dict[str, str], log: Path) -> str:
    """Run a management command to completion; its output goes to ``log`` and is returned."""
    done = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=300,
    )
    log.write_text(done.stdout)
    if done.returncode != 0:
        pytest.fail(f"manage.py {' '.join(args)} failed; see {log}:\n{done.stdout[-3000:]}")
    return done.stdout


def _stop(processes: dict[str, subprocess.Popen]) -> None:
    for proc in processes.values():
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)  # runserver and qcluster both stop cleanly on it
    deadline = time.monotonic() + STOP_TIMEOUT
    for proc in processes.values():
        try:
            proc.wait(timeout=max(deadline - time.monotonic(), 0.1))
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


@pytest.fixture(scope="session")
def chromium() -> str:
    path = find_chromium()
    if path is None:
        unavailable(
            "Chromium not found (looked for $SOCIALCARE_CHROMIUM, /usr/bin/chromium, chromium, "
            "chromium-browser); Debian: apt-get install chromium"
        )
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        unavailable("the playwright package is not installed (pip install -e '.[dev]')")
    return path


@pytest.fixture(scope="session")
def demo_server(chromium: str) -> Iterator[DemoServer]:
    artifacts = artifacts_dir()
    var_dir = tempfile.mkdtemp(prefix="socialcare-browser-")
    password = "demo-" + secrets.token_urlsafe(9)
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("DJANGO_SETTINGS_MODULE", "PYTHONPATH", "SOCIALCARE_TEST_DB")
    }
    env |= {
        "DJANGO_SETTINGS_MODULE": "project.settings",
        "SOCIALCARE_VAR_DIR": var_dir,
        "SOCIALCARE_DEMO_PASSWORD": password,
        "PYTHONUNBUFFERED": "1",
    }
    _manage(["socialcare_demo", "--no-serve"], env, artifacts / "demo-setup.log")
    seeded = _manage(
        ["shell", "-c", "from tests.browser.seed import add_xss_case; add_xss_case()"],
        env,
        artifacts / "seed.log",
    )
    xss_case = int(seeded.split("XSS_CASE=", 1)[1].split()[0])
    xss_incident = int(seeded.split("XSS_INCIDENT=", 1)[1].split()[0])

    port = free_port()
    server = DemoServer(f"http://127.0.0.1:{port}", password, artifacts, xss_case, xss_incident)
    commands = {
        "server": ["runserver", f"127.0.0.1:{port}", "--noreload", "--insecure"],
        "worker": ["qcluster"],
    }
    logs = {}
    try:
        for name, args in commands.items():
            logs[name] = open(artifacts / f"{name}.log", "w")  # noqa: SIM115 (closed below)
            server.processes[name] = subprocess.Popen(
                [sys.executable, "manage.py", *args],
                cwd=ROOT,
                env=env,
                stdout=logs[name],
                stderr=subprocess.STDOUT,
                start_new_session=True,  # Ctrl-C on pytest does not reach them half-way
            )
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            server.check_alive()
            try:
                with urllib.request.urlopen(f"{server.url}/admin/login/", timeout=2) as answer:
                    if answer.status == 200:
                        break
            except (urllib.error.URLError, OSError):
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"the demo server did not answer in {START_TIMEOUT} s; see the logs")
            time.sleep(0.3)
        yield server
    finally:
        _stop(server.processes)
        for log in logs.values():
            log.close()
        shutil.rmtree(var_dir, ignore_errors=True)
        print(f"\nbrowser test screenshots and logs: {artifacts}")


@pytest.fixture(scope="session")
def browser_context(chromium: str, demo_server: DemoServer) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    profile = tempfile.mkdtemp(prefix="socialcare-chromium-")
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            profile,
            executable_path=chromium,
            headless=True,
            args=CHROMIUM_FLAGS,
            viewport={"width": 1400, "height": 900},
            base_url=demo_server.url,
        )
        context.set_default_timeout(15_000)
        try:
            yield context
        finally:
            context.close()
            shutil.rmtree(profile, ignore_errors=True)


@dataclass
class Browser:
    """One tab, with what it saw: JavaScript dialogs and uncaught page errors."""

    page: Any
    server: DemoServer
    dialogs: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    theme_changed: bool = False

    def log_in(self, username: str, next_url: str = "/admin/") -> None:
        self.page.context.clear_cookies()
        self.page.goto(f"/admin/login/?next={next_url}")
        self.page.fill("#id_username", username)
        self.page.fill("#id_password", self.server.password)
        with self.page.expect_navigation():
            self.page.click("input[type=submit]")
        assert "/admin/login/" not in self.page.url, f"{username} could not log in"

    def resize(self, width: int, height: int) -> None:
        """This tab's viewport (the shared context starts at 1400×900); see ``VIEWPORTS``."""
        self.page.set_viewport_size({"width": width, "height": height})

    def set_theme(self, theme: str) -> None:
        """The admin's colour theme as its toggle stores it ("dark", "light" or "auto"), then
        reload; the ``browser`` fixture puts "auto" back after the test."""
        self.page.evaluate("theme => localStorage.setItem('theme', theme)", theme)
        self.theme_changed = True
        self.page.reload()

    def in_viewport(self, locator: Any) -> bool:
        """Whether the element's whole box (not empty) is inside the viewport."""
        return locator.evaluate(
            """el => { const r = el.getBoundingClientRect();
                return r.width > 0 && r.height > 0 && r.left >= 0 && r.top >= 0
                    && r.right <= innerWidth + 0.5 && r.bottom <= innerHeight + 0.5; }"""
        )

    def shot(self, name: str) -> Path:
        path = self.server.artifacts / f"{name}.png"
        self.page.screenshot(path=str(path), full_page=True)
        return path


@pytest.fixture
def browser(browser_context: Any, demo_server: DemoServer) -> Iterator[Browser]:
    page = browser_context.new_page()
    seen = Browser(page, demo_server)

    def on_dialog(dialog: Any) -> None:
        seen.dialogs.append(f"{dialog.type}: {dialog.message}")
        dialog.dismiss()

    page.on("dialog", on_dialog)
    page.on("pageerror", lambda error: seen.errors.append(str(error)))
    try:
        yield seen
    finally:
        if seen.theme_changed:  # the context (and its localStorage) is shared by the session
            page.evaluate("() => localStorage.setItem('theme', 'auto')")
        page.close()
        demo_server.check_alive()
