"""The integration snippet of docs/integration.md, read the way scripts/check_package.sh reads it
(scripts/lib/integration_snippet.py): its blocks exist, compile, give a startproject settings
module everything socialcare's checks require, and list the commands in the agreed order; and
README points to it instead of keeping a second copy. Fast: no subprocess, no new project. The
full proof (pip install, startproject, the commands, the admin over HTTP) is check_package.sh."""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import django
import pytest
from django.template import Context, Engine
from django.urls import URLResolver
from django.utils.module_loading import import_string

from socialcare.checks import REQUIRED_APPS, SQLITE_DOC, sqlite_problems

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "integration.md"
KEY = "yDBpXDcmWBcwVmsNNYvsQS9RvlAWoLjNGSz7wXfrkWg="


def load_helper() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "integration_snippet", ROOT / "scripts" / "lib" / "integration_snippet.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


snippet = load_helper()


@pytest.fixture(scope="module")
def text() -> str:
    return DOC.read_text(encoding="utf-8")


def startproject_file(name: str) -> str:
    """A file of ``django-admin startproject crm``, rendered from Django's own template."""
    template = Path(django.__file__).parent / "conf" / "project_template" / "project_name"
    source = (template / f"{name}-tpl").read_text(encoding="utf-8")
    context = {
        "project_name": "crm",
        "secret_key": "not-secret",
        "django_version": django.get_version(),
        "docs_version": "dev",
    }
    return Engine(autoescape=False).from_string(source).render(Context(context))


def run(code: str, namespace: dict[str, Any]) -> dict[str, Any]:
    exec(compile(code, str(DOC), "exec"), namespace)
    return namespace


def test_the_page_has_the_marked_blocks_and_each_compiles(text: str) -> None:
    blocks = snippet.blocks(text)
    assert len(blocks["settings.py"]) == 2  # the settings, then SQLite's
    assert len(blocks["urls.py"]) == 1
    assert len(blocks["commands"]) == 1
    for target in ("settings.py", "urls.py"):
        for code in blocks[target]:
            compile(code, f"{DOC}:{target}", "exec")


def test_the_settings_blocks_complete_a_startproject_settings_module(
    text: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SOCIALCARE_ENCRYPTION_KEYS", KEY)
    namespace = run(startproject_file("settings.py"), {"__file__": "/srv/crm/crm/settings.py"})
    for code in snippet.blocks(text)["settings.py"]:
        run(code, namespace)
    apps = namespace["INSTALLED_APPS"]
    # Every app check socialcare.E006 requires, before socialcare; and social_django.
    assert all(app in apps for app in (*REQUIRED_APPS, "social_django", "socialcare"))
    assert max(apps.index(app) for app in REQUIRED_APPS) < apps.index("socialcare")
    assert len(apps) == len(set(apps))
    # Appended middleware comes after AuthenticationMiddleware, and each entry imports.
    middleware = namespace["MIDDLEWARE"]
    auth = middleware.index("django.contrib.auth.middleware.AuthenticationMiddleware")
    assert middleware.index("socialcare.middleware.CurrentUserMiddleware") > auth
    for path in middleware:
        import_string(path)
    assert namespace["SOCIALCARE"] == {"ENCRYPTION_KEYS": [KEY]}
    # The ORM broker (no Redis) and a retry longer than the timeout (django-q2 requires it).
    cluster = namespace["Q_CLUSTER"]
    assert cluster["orm"] == "default" and "redis" not in cluster
    assert cluster["retry"] > cluster["timeout"]
    # SQLite as check socialcare.W012 wants it.
    assert sqlite_problems(namespace["DATABASES"]["default"]) == []


def test_without_the_sqlite_block_w012_would_warn(text: str) -> None:
    namespace = run(startproject_file("settings.py"), {"__file__": "/srv/crm/crm/settings.py"})
    assert sqlite_problems(namespace["DATABASES"]["default"]) == [
        "WAL journal mode",
        "IMMEDIATE transactions",
        "a lock timeout",
    ]
    heading = SQLITE_DOC.split(", ", 1)[1].strip('"')
    assert f"## {heading}\n" in text


def test_the_urls_block_completes_a_startproject_urlconf(text: str) -> None:
    namespace = run(startproject_file("urls.py"), {})
    (code,) = snippet.blocks(text)["urls.py"]
    run(code, namespace)
    included = {
        (str(p.pattern), p.namespace)
        for p in namespace["urlpatterns"]
        if isinstance(p, URLResolver)
    }
    assert {("admin/", "admin"), ("socialcare/", "socialcare")} <= included


def test_the_commands_come_in_the_agreed_order(text: str) -> None:
    commands = [words[0] for words in snippet.manage_commands(text)]
    assert commands == [
        "migrate",
        "socialcare_roles",
        "socialcare_schedules",
        "socialcare_playbooks",
        "createsuperuser",
        "runserver",
        "qcluster",
    ]
    shipped = {path.stem for path in (ROOT / "socialcare" / "management" / "commands").glob("*.py")}
    assert {c for c in commands if c.startswith("socialcare_")} <= shipped


def test_the_key_the_settings_read_is_the_one_the_page_says_to_export(text: str) -> None:
    (code, _sqlite) = snippet.blocks(text)["settings.py"]
    read = set(re.findall(r'os\.environ\["([A-Z_]+)"\]', code))
    assert read == {"SOCIALCARE_ENCRYPTION_KEYS"}
    assert "export SOCIALCARE_ENCRYPTION_KEYS=" in text


def test_the_helper_refuses_a_page_without_its_blocks() -> None:
    with pytest.raises(
        snippet.SnippetError, match=re.escape("no block marked settings.py, urls.py, commands")
    ):
        snippet.blocks("# Adding socialcare\n\n```python\nINSTALLED_APPS = []\n```\n")
    with pytest.raises(snippet.SnippetError, match="not followed by a code block"):
        snippet.blocks("<!-- integration-snippet: urls.py -->\nSome prose.\n")
    with pytest.raises(snippet.SnippetError, match="never closed"):
        snippet.blocks("<!-- integration-snippet: urls.py -->\n```python\nx = 1\n")


def test_readme_points_to_the_page_and_keeps_no_second_copy() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Using socialcare in your CRM\n", 1)[1].split("\n## ", 1)[0]
    assert "(docs/integration.md)" in section
    assert "```" not in section, "the snippet lives in docs/integration.md only"
    assert "env(" not in readme
