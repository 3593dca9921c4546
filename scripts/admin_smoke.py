"""Log in to a running Django admin over real HTTP and check that socialcare's pages answer 200.

Used by scripts/check_package.sh against a freshly generated project; standard library only, so it
runs in any virtualenv.

    python scripts/admin_smoke.py BASE_URL USERNAME PASSWORD [--need-rows=PATH ...] [REQUIRED_PATH ...]

It signs in through the login form (session cookie + CSRF token), asserts that the admin index
answers 200 and lists socialcare, then visits every /admin/socialcare/ link on the index (the
changelists and add forms), the first change page of each changelist, and every REQUIRED_PATH.
``--need-rows=/admin/socialcare/case/`` makes an empty changelist a failure (that changelist must
show the user at least one row, whose change page is then visited). scripts/check_demo.sh uses
it: the demo's agent must see cases in her inbox and open one.
Exit status 0 when every page answered 200, 1 otherwise.
"""

from __future__ import annotations

import html
import http.cookiejar
import re
import sys
import urllib.error
import urllib.parse
import urllib.request

TIMEOUT = 60
SOCIALCARE_LINK = re.compile(r'href="(/admin/socialcare/[^"#?]*)"')


class Client:
    def __init__(self, base_url: str) -> None:
        self.base_url = base_url.rstrip("/")
        self.cookies = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.cookies))

    def request(self, path: str, data: dict[str, str] | None = None) -> tuple[int, str, str]:
        """Return (status, final path, body); redirects are followed."""
        url = self.base_url + path
        body = urllib.parse.urlencode(data).encode() if data is not None else None
        req = urllib.request.Request(url, data=body, headers={"Referer": url})
        try:
            with self.opener.open(req, timeout=TIMEOUT) as response:
                final = urllib.parse.urlsplit(response.geturl()).path
                return response.status, final, response.read().decode("utf-8", "replace")
        except urllib.error.HTTPError as exc:
            return exc.code, path, exc.read().decode("utf-8", "replace")

    def cookie(self, name: str) -> str | None:
        return next((c.value for c in self.cookies if c.name == name), None)


def describe_error(body: str) -> str:
    """The exception summary of a Django error page (DEBUG=True), else the page title."""
    for pattern in (r'<pre class="exception_value">(.*?)</pre>', r"<title>(.*?)</title>"):
        match = re.search(pattern, body, re.S)
        if match:
            return " ".join(html.unescape(match.group(1)).split())[:300]
    return body[:300]


def main(argv: list[str]) -> int:
    if len(argv) < 4:
        print(__doc__, file=sys.stderr)
        return 2
    need_rows = {a.split("=", 1)[1] for a in argv[1:] if a.startswith("--need-rows=")}
    base_url, username, password, *required = [a for a in argv[1:] if not a.startswith("--")]
    client = Client(base_url)
    failures: list[str] = []

    status, _, body = client.request("/admin/login/?next=/admin/")
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', body)
    if status != 200 or not token:
        print(f"FAIL  GET /admin/login/ answered {status} without a CSRF token", file=sys.stderr)
        return 1
    print("200   GET /admin/login/")

    status, final, body = client.request(
        "/admin/login/?next=/admin/",
        {
            "csrfmiddlewaretoken": token.group(1),
            "username": username,
            "password": password,
            "next": "/admin/",
        },
    )
    if status != 200 or final != "/admin/" or not client.cookie("sessionid"):
        print(
            f"FAIL  login as {username!r}: answered {status} at {final} "
            f"(session cookie: {bool(client.cookie('sessionid'))})",
            file=sys.stderr,
        )
        return 1
    print(f"200   POST /admin/login/ -> {final} (logged in as {username})")

    if "/admin/socialcare/" not in body:
        failures.append("the admin index does not list the socialcare app")
    links = sorted(set(SOCIALCARE_LINK.findall(body)))
    print(f"      the admin index links {len(links)} socialcare pages")

    visited: set[str] = set()

    def visit(path: str) -> str | None:
        if path in visited:
            return None
        visited.add(path)
        status, final, page = client.request(path)
        if status != 200:
            failures.append(f"GET {path} answered {status}: {describe_error(page)}")
            print(f"{status}   GET {path}  <-- {describe_error(page)}")
            return None
        if final.startswith("/admin/login/"):
            failures.append(f"GET {path} sent the logged-in user back to the login page")
            print(f"FAIL  GET {path} -> {final}")
            return None
        print(f"200   GET {path}")
        return page

    for path in [*links, *required, *sorted(need_rows)]:
        page = visit(path)
        if page is None or not re.fullmatch(r"/admin/socialcare/\w+/", path):
            continue
        # The first object's change page, when the changelist has any rows.
        change = re.search(rf'href="({re.escape(path)}[^"/?#]+/change/)[^"]*"', page)
        if change:
            visit(html.unescape(change.group(1)))
        elif path in need_rows:
            failures.append(f"GET {path} showed {username!r} no row to open")
            print(f"FAIL  GET {path} has no row")

    if failures:
        print(f"\nFAILED: {len(failures)} admin page(s) did not answer 200:", file=sys.stderr)
        for failure in failures:
            print(f"  - {failure}", file=sys.stderr)
        return 1
    print(f"OK    {len(visited) + 2} admin requests answered 200")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
