"""Run the socialcare demo: migrate, an admin user, the Acme demo data, a worker and a web server."""

from __future__ import annotations

import errno
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from typing import Any

from django.apps import apps
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.core.management.commands.runserver import naiveip_re
from django.db import connections

from socialcare.demo import DemoLogin, load_demo_data, set_up_demo_staff
from socialcare.models import Case

ADMIN_USERNAME = "admin"
PASSWORD_ENV = "SOCIALCARE_DEMO_PASSWORD"
#: Seconds a child process gets to stop on its own before it is killed.
STOP_TIMEOUT = 15
#: Seconds to wait for the web server to accept connections before saying where to look.
START_TIMEOUT = 30

BIND_ERRORS = {
    errno.EADDRINUSE: "port {port} is already in use (another server, or a demo still running?). "
    "Stop that first, or pick another port: --addrport 127.0.0.1:{next_port}",
    errno.EACCES: "no permission to listen on port {port}; pick a port above 1023.",
    errno.EADDRNOTAVAIL: "{host} is not an address of this machine.",
}


class _Stop(Exception):
    """SIGTERM or SIGHUP arrived: stop the children and exit."""


def _raise_stop(signum: int, frame: Any) -> None:
    raise _Stop


class Command(BaseCommand):
    logins: list[DemoLogin] = []  # who logs in besides admin (set_up_demo_staff)
    help = (
        "Run the socialcare demo: migrate the database, create or update the superuser 'admin' "
        "with a fresh password (or $SOCIALCARE_DEMO_PASSWORD), load the Acme demo data once, "
        "install the support roles and give the agent 'maya' and the supervisor 'hannah' the same "
        "password, then serve the admin with a django-q2 worker until Ctrl-C."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--addrport",
            default="127.0.0.1:8000",
            help="Where the web server listens: port or address:port (default 127.0.0.1:8000).",
        )
        parser.add_argument(
            "--no-serve",
            action="store_true",
            help="Prepare the database, the admin user and the demo data, then exit.",
        )
        parser.add_argument(
            "--no-worker",
            action="store_true",
            help="Serve without the django-q2 worker (queued replies and tasks wait).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        serve = not options["no_serve"]
        if serve:  # fail before any work when the server could not start anyway
            host, port, ipv6 = _parse_addrport(options["addrport"])
            _check_can_listen(host, port, ipv6)
        self.stdout.write("Migrating the database…")
        call_command(
            "migrate",
            interactive=False,
            verbosity=max(options["verbosity"] - 1, 0),
            stdout=self.stdout,
            stderr=self.stderr,
        )
        password = self._admin_user()
        self._load()
        call_command("socialcare_schedules", stdout=self.stdout)
        call_command("socialcare_playbooks", stdout=self.stdout)
        call_command("socialcare_roles", stdout=self.stdout)
        self.logins = set_up_demo_staff(password)
        if not serve:
            self._credentials(password, url="")
            self.stdout.write("Start the demo with: python manage.py socialcare_demo")
            return
        connections.close_all()  # the children open their own
        self._serve(options["addrport"], host, port, ipv6, password, not options["no_worker"])

    # Preparing ---------------------------------------------------------------------------------

    def _admin_user(self) -> str:
        """Create or update the superuser; return its (new) password."""
        password = os.environ.get(PASSWORD_ENV) or secrets.token_urlsafe(12)
        User = get_user_model()
        user = User._default_manager.filter(**{User.USERNAME_FIELD: ADMIN_USERNAME}).first()
        if user is None:
            User._default_manager.create_superuser(
                **{User.USERNAME_FIELD: ADMIN_USERNAME},
                email="admin@acme.example",
                password=password,
            )
            self.stdout.write(f"Created the superuser '{ADMIN_USERNAME}'.")
        else:
            user.is_active = user.is_staff = user.is_superuser = True
            user.set_password(password)
            user.save()
            self.stdout.write(f"Updated the superuser '{ADMIN_USERNAME}' with a new password.")
        return password

    def _load(self) -> None:
        counts = load_demo_data()
        if not counts["created"]:
            self.stdout.write("Demo data is already loaded; left it as it is.")
            if counts["polling_turned_off"]:
                self.stdout.write(
                    "Turned off automatic polling of "
                    f"{', '.join(counts['polling_turned_off'])}: their tokens are made up "
                    "(the simulator feeds them)."
                )
            return
        statuses = ", ".join(
            f"{n} {label.lower()}"
            for value, label in Case.Status.choices
            if (n := counts["cases_by_status"].get(value))
        )
        self.stdout.write(
            self.style.SUCCESS(
                f"Loaded the Acme demo: {counts['cases']} cases ({statuses}; "
                f"{counts['overdue_cases']} overdue; first response breached on "
                f"{counts['cases_by_sla']['breached']}, due soon on "
                f"{counts['cases_by_sla']['due_soon']}), {counts['customers']} customers with "
                f"{counts['identities']} social identities ({counts['unresolved_identities']} not "
                f"matched to a customer yet), {counts['posts']} posts, {counts['channels']} "
                f"channels, {counts['teams']} teams of {counts['agents']} agents."
            )
        )

    def _credentials(self, password: str, *, url: str) -> None:
        rule = "─" * 64
        lines = [rule]
        if url:
            lines.append(f"  socialcare demo: {url}")
        users = [(ADMIN_USERNAME, "superuser")] + [
            (login.username, f"{login.role}, {' and '.join(login.teams) or 'no team'}")
            for login in self.logins
        ]
        for index, (username, what) in enumerate(users):
            lines.append(f"  {'username' if index == 0 else '':8}  {username:<8}  {what}")
        notes = ["the same for all of them"] if len(users) > 1 else []
        if os.environ.get(PASSWORD_ENV):
            notes.append(f"from ${PASSWORD_ENV}")
        lines.append(f"  password  {password}" + (f"  ({'; '.join(notes)})" if notes else ""))
        if url:
            lines.append("  Press Ctrl-C to stop.")
        lines.append(rule)
        self.stdout.write(self.style.SUCCESS("\n".join(lines)))

    # Serving -----------------------------------------------------------------------------------

    def _serve(
        self, addrport: str, host: str, port: int, ipv6: bool, password: str, worker: bool
    ) -> None:
        """Run the worker and the web server as children until Ctrl-C, SIGTERM or one exits."""
        base = _django_command()
        server_args = [*base, "runserver", addrport, "--noreload"]
        if ipv6:
            server_args.append("--ipv6")
        if apps.is_installed("django.contrib.staticfiles"):
            server_args.append("--insecure")  # the admin's CSS and JS, even with DEBUG off
        children: list[tuple[str, subprocess.Popen]] = []
        handled = [s for s in (signal.SIGTERM, getattr(signal, "SIGHUP", None)) if s is not None]
        previous = {s: signal.signal(s, _raise_stop) for s in handled}
        try:
            if worker:
                children.append(("worker (qcluster)", _start([*base, "qcluster"])))
            children.append(("web server", _start(server_args)))
            self._wait_until_up(host, port, ipv6, children)
            url = f"http://{_display_host(host, ipv6)}:{port}/admin/"
            self._credentials(password, url=url)
            if not worker:
                self.stdout.write("No worker (--no-worker): replies stay queued.")
            while True:
                self._check_alive(children)
                time.sleep(0.5)
        except (KeyboardInterrupt, _Stop):
            self.stdout.write("\nStopping the demo…")
        finally:
            self._stop(children)
            for s, handler in previous.items():
                signal.signal(s, handler)
        self.stdout.write("Demo stopped.")

    def _wait_until_up(
        self, host: str, port: int, ipv6: bool, children: list[tuple[str, subprocess.Popen]]
    ) -> None:
        target = _connect_host(host, ipv6)
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            self._check_alive(children)
            try:
                with socket.create_connection((target, port), timeout=1):
                    return
            except OSError:
                time.sleep(0.2)
        self.stderr.write(
            f"The web server does not answer on {target}:{port} after {START_TIMEOUT} s; "
            "see its messages above."
        )

    def _check_alive(self, children: list[tuple[str, subprocess.Popen]]) -> None:
        for name, proc in children:
            code = proc.poll()
            if code is not None:
                how = f"was killed by signal {-code}" if code < 0 else f"exited with code {code}"
                raise CommandError(f"The {name} {how}; see its messages above. The demo stops too.")

    def _stop(self, children: list[tuple[str, subprocess.Popen]]) -> None:
        """Ask each child to stop (the worker finishes its task), then kill what is left."""
        try:
            for _, proc in reversed(children):
                if proc.poll() is None:
                    proc.terminate()
            deadline = time.monotonic() + STOP_TIMEOUT
            for name, proc in children:
                try:
                    proc.wait(timeout=max(deadline - time.monotonic(), 0.1))
                except subprocess.TimeoutExpired:
                    self.stderr.write(f"The {name} did not stop in {STOP_TIMEOUT} s; killing it.")
        except (KeyboardInterrupt, _Stop):
            self.stderr.write("Killing the demo's processes.")
        finally:
            for _, proc in children:
                if proc.poll() is None:
                    _kill_group(proc)
                    proc.wait()


def _parse_addrport(addrport: str) -> tuple[str, int, bool]:
    """(host, port, ipv6) of a runserver address, or a CommandError saying what is wrong."""
    match = naiveip_re.match(addrport)
    if match is None:
        raise CommandError(
            f"--addrport {addrport!r} is not a port or an address:port pair "
            "(e.g. 8000, 127.0.0.1:8000, 0.0.0.0:8000, [::1]:8000)."
        )
    port = int(match["port"])
    if not 0 < port < 65536:
        raise CommandError(f"--addrport: {port} is not a port number (1–65535).")
    ipv6 = bool(match["ipv6"])
    host = match["addr"] or "127.0.0.1"
    return (host[1:-1] if ipv6 else host), port, ipv6


def _check_can_listen(host: str, port: int, ipv6: bool) -> None:
    family = socket.AF_INET6 if ipv6 else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        # As the server will: a port left in TIME_WAIT by a previous run is free to use.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            reason = BIND_ERRORS.get(exc.errno, "{error}").format(
                host=host, port=port, next_port=port + 1, error=exc
            )
            raise CommandError(f"Cannot serve the demo on {host}:{port}: {reason}") from exc


def _connect_host(host: str, ipv6: bool) -> str:
    if host in ("0.0.0.0", "::"):  # listening on every address: connect locally
        return "::1" if ipv6 else "127.0.0.1"
    return host


def _display_host(host: str, ipv6: bool) -> str:
    host = _connect_host(host, ipv6)
    return f"[{host}]" if ipv6 else host


def _django_command() -> list[str]:
    """How to run another management command: this interpreter, this manage.py if there is one."""
    script = sys.argv[0] if sys.argv else ""
    if os.path.basename(script) == "manage.py" and os.path.isfile(script):
        return [sys.executable, script]
    return [sys.executable, "-m", "django"]


def _start(args: list[str]) -> subprocess.Popen:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": settings.SETTINGS_MODULE,
        "PYTHONUNBUFFERED": "1",
    }
    # A session of its own: Ctrl-C reaches only this command, which stops the children in
    # order, and a child that will not stop is killed with everything it started.
    return subprocess.Popen(args, env=env, start_new_session=True)


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        if hasattr(os, "killpg"):
            os.killpg(proc.pid, signal.SIGKILL)
        else:
            proc.kill()
    except ProcessLookupError:
        pass
