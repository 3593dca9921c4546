"""docs/settings.md documents every socialcare setting and every system check, and nothing else:
the settings table against ``socialcare.conf.DEFAULTS``, the checks table against the ids
``socialcare/checks.py`` can report."""

from __future__ import annotations

import re
from pathlib import Path

import socialcare
from socialcare.conf import DEFAULTS

ROOT = Path(__file__).resolve().parents[1]
SETTINGS_DOC = ROOT / "docs" / "settings.md"
CHECKS_SOURCE = Path(socialcare.__file__).resolve().parent / "checks.py"

#: A row of the settings table: the key in backticks alone in the first cell. The top-level
#: ``SOCIALCARE_CUSTOMER_MODEL`` row says "(top level)" and is not a key of the dict.
SETTING_ROW = re.compile(r"^\|\s*`([A-Z][A-Z0-9_]*)`\s*\|", re.MULTILINE)
CHECK_ROW = re.compile(r"^\|\s*`(socialcare\.[EW]\d{3})`\s*\|", re.MULTILINE)
CHECK_ID = re.compile(r"""id=["'](socialcare\.[EW]\d{3})["']""")


def documented_settings(text: str) -> list[str]:
    return SETTING_ROW.findall(text)


def test_every_setting_is_documented_and_every_documented_setting_exists() -> None:
    documented = documented_settings(SETTINGS_DOC.read_text(encoding="utf-8"))
    assert sorted(set(DEFAULTS) - set(documented)) == [], "missing from docs/settings.md"
    assert sorted(set(documented) - set(DEFAULTS)) == [], "in docs/settings.md, not in DEFAULTS"
    assert len(documented) == len(set(documented)), "a setting has two rows"


def test_the_top_level_customer_model_setting_is_documented_apart() -> None:
    text = SETTINGS_DOC.read_text(encoding="utf-8")
    assert "| `SOCIALCARE_CUSTOMER_MODEL` (top level) |" in text
    assert "SOCIALCARE_CUSTOMER_MODEL" not in documented_settings(text)


def test_the_parser_sees_a_missing_and_an_unknown_setting() -> None:
    # The comparison above is only as good as the parser: a row it cannot read would hide a gap.
    text = "| `PLATFORMS` | all | x |\n| `NOT_A_SETTING` | 1 | y |\n| `socialcare.E001` | a | b |\n"
    assert documented_settings(text) == ["PLATFORMS", "NOT_A_SETTING"]


def test_every_system_check_is_in_the_checks_table() -> None:
    documented = set(CHECK_ROW.findall(SETTINGS_DOC.read_text(encoding="utf-8")))
    reported = set(CHECK_ID.findall(CHECKS_SOURCE.read_text(encoding="utf-8")))
    assert reported, "no check ids found in socialcare/checks.py"
    assert sorted(reported - documented) == [], "checks missing from docs/settings.md"
    assert sorted(documented - reported) == [], "docs/settings.md lists checks that do not exist"
