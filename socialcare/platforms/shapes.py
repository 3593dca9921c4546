"""Readers every adapter uses to take a payload apart: a value of the wrong shape becomes a
``ParseError`` that says where and what, never a KeyError or TypeError."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from socialcare.platforms.base import ParseError


# Value readers (X, Meta): ``what`` names the value in the message ------------------------------
def obj(value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ParseError(f"{what} is not a JSON object (got {type(value).__name__}).")
    return value


def opt_obj(value: Any, what: str) -> dict[str, Any]:
    """A nested object that may be absent or null."""
    return {} if value is None else obj(value, what)


def array(value: Any, what: str) -> list[Any]:
    if not isinstance(value, list):
        raise ParseError(f"{what} is not a JSON array (got {type(value).__name__}).")
    return value


def opt_array(value: Any, what: str) -> list[Any]:
    """A list that may be absent or null."""
    return [] if value is None else array(value, what)


def platform_id(value: Any, what: str, required: bool = True) -> str:
    """A platform id: a non-empty string or an integer, returned as a string."""
    if isinstance(value, str) and value:
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if value is None or value == "":
        if required:
            raise ParseError(f"{what} is missing.")
        return ""
    raise ParseError(f"{what} is not an id (got {type(value).__name__}).")


def text(value: Any, what: str) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ParseError(f"{what} is not a string (got {type(value).__name__}).")
    return value


# Field readers (Mastodon, Bluesky): ``container[key]`` read at ``where`` ------------------------
def short(value: Any) -> str:
    """A value as it may appear in an error message (at most 60 characters)."""
    shown = repr(value)
    return shown if len(shown) <= 60 else shown[:57] + "..."


def field_obj(container: Mapping[str, Any], key: str, where: str) -> Mapping[str, Any]:
    value = container.get(key)
    if not isinstance(value, dict):
        raise ParseError(f"{where}: `{key}` must be an object, got {short(value)}.")
    return value


def field_str(container: Mapping[str, Any], key: str, where: str) -> str:
    value = container.get(key)
    if not isinstance(value, str) or not value:
        raise ParseError(f"{where}: `{key}` must be a non-empty string, got {short(value)}.")
    return value


def field_opt_str(container: Mapping[str, Any], key: str, where: str) -> str:
    value = container.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ParseError(f"{where}: `{key}` must be a string or null, got {short(value)}.")
    return value
