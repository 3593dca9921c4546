"""A small validator of AT Protocol lexicons, for the Bluesky fakes: the query parameters and the
procedure inputs socialcare sends are checked against the lexicon documents in
``tests/fakes/lexicons/`` (copied from bluesky-social/atproto ``lexicons/``: they are the spec).

What it checks, as the XRPC server does (``packages/xrpc-server/src/util.ts``,
``packages/lex/lex-schema/src/schema/params.ts``, ``packages/lexicon/src/validators/``):

- query parameters: an integer must be digits, a boolean exactly ``true`` or ``false``; a
  parameter given twice that is not an array is a type error; ``minimum`` / ``maximum``,
  ``required``, an array's ``maxLength`` (element count), string formats; empty values are
  ignored, as the server ignores them;
- objects (a procedure's input, a record): ``required`` properties, the type of every known
  property (unknown ones are allowed: lexicon objects are open), refs and unions (``$type``),
  strings' ``maxLength`` (UTF-8 bytes) and ``maxGraphemes``, integers' bounds, arrays' length,
  and the formats ``datetime`` (the atproto regex), ``did``, ``handle``, ``at-identifier``,
  ``at-uri``, ``nsid``, ``cid``, ``uri``, ``language``, ``record-key`` and ``tid`` (loosely:
  shape, not resolution).

Stricter than the server, on purpose (``strict=True``, the default): an unknown parameter name
and a string outside its ``knownValues`` are refused. The real server ignores unknown parameters
and accepts any string, so a misspelt parameter (``reason`` for ``reasons``) would silently do
nothing there; here it fails a test. Those refusals are ``StricterThanServer`` errors and say so.

Graphemes are counted loosely (a base character with its combining marks, variation selectors,
emoji modifiers, tags and zero-width-joiner sequences; regional-indicator pairs), which agrees
with Unicode's extended grapheme clusters for text and emoji.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import unicodedata
from collections.abc import Mapping
from pathlib import Path
from typing import Any

DIRECTORY = Path(__file__).parent / "lexicons"

DATETIME = re.compile(
    r"^[0-9]{4}-(0[1-9]|1[012])-([0-2][0-9]|3[01])T([01][0-9]|2[0-3]):[0-5][0-9]:([0-5][0-9]|60)"
    r"(\.[0-9]+)?(Z|[+-]([01][0-9]|2[0-3]):[0-5][0-9])$"
)
DID = re.compile(r"^did:[a-z]+:[a-zA-Z0-9._:%-]*[a-zA-Z0-9._-]$")
HANDLE = re.compile(
    r"^([a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?\.)+[a-zA-Z]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?$"
)
NSID = re.compile(
    r"^[a-zA-Z](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}"
    r"[a-zA-Z0-9])?)+(?:\.[a-zA-Z][a-zA-Z0-9]{0,62})$"
)
CID = re.compile(r"^(Qm[1-9A-HJ-NP-Za-km-z]{44}|b[a-z2-7]{8,})$")
URI = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:\S+$")
LANGUAGE = re.compile(r"^(i|[a-zA-Z]{2,3})(-[a-zA-Z0-9]{1,8})*$")
RECORD_KEY = re.compile(r"^[a-zA-Z0-9_~.:-]{1,512}$")
TID = re.compile(r"^[234567abcdefghij][234567abcdefghijklmnopqrstuvwxyz]{12}$")


class LexiconError(ValueError):
    """The request does not match the lexicon: the XRPC server answers 400 ``InvalidRequest``
    with this message."""

    error = "InvalidRequest"


class StricterThanServer(LexiconError):
    """Refused by this validator's strict mode only (see the module docstring)."""

    def __init__(self, message: str) -> None:
        super().__init__(f"{message} (refused by the test fake; the XRPC server would ignore it)")


class LexiconMissing(LookupError):
    """A ref names a lexicon that was not copied into ``tests/fakes/lexicons/``: a test set-up
    error, not a platform answer."""


def graphemes(text: str) -> int:
    """Extended grapheme clusters in ``text``, counted loosely (module docstring)."""
    count = 0
    previous = ""
    pending_flag = False  # an unpaired regional indicator precedes
    for char in text:
        code = ord(char)
        extends = (
            unicodedata.category(char) in ("Mn", "Me", "Mc")
            or 0xFE00 <= code <= 0xFE0F
            or 0x1F3FB <= code <= 0x1F3FF
            or 0xE0020 <= code <= 0xE007F
            or 0xE0100 <= code <= 0xE01EF
            or code == 0x200D
        )
        joined = previous == "\u200d" and code >= 0x2000  # an emoji zero-width-joiner sequence
        regional = 0x1F1E6 <= code <= 0x1F1FF
        crlf = previous == "\r" and char == "\n"
        if count and (extends or joined or crlf or (regional and pending_flag)):
            pending_flag = False if regional else pending_flag
        else:
            count += 1
            pending_flag = regional
        previous = char
    return count


def _format_ok(fmt: str, value: str) -> bool:
    if fmt == "datetime":
        if len(value) > 64 or value.endswith("-00:00") or not DATETIME.match(value):
            return False
        try:
            dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return False
        return True
    if fmt == "did":
        return len(value) <= 2048 and bool(DID.match(value))
    if fmt == "handle":
        return len(value) <= 253 and bool(HANDLE.match(value))
    if fmt == "at-identifier":
        return _format_ok("did", value) or _format_ok("handle", value)
    if fmt == "at-uri":
        if not value.startswith("at://") or len(value) > 8192:
            return False
        authority, *rest = value[len("at://") :].split("/")
        if not _format_ok("at-identifier", authority) or len(rest) > 2:
            return False
        if rest and not NSID.match(rest[0]):
            return False
        return len(rest) < 2 or bool(RECORD_KEY.match(rest[1]))
    if fmt == "nsid":
        return len(value) <= 317 and bool(NSID.match(value))
    if fmt == "cid":
        return len(value) <= 256 and bool(CID.match(value))
    if fmt == "uri":
        return len(value) <= 8192 and bool(URI.match(value))
    if fmt == "language":
        return bool(LANGUAGE.match(value))
    if fmt == "record-key":
        return value not in (".", "..") and bool(RECORD_KEY.match(value))
    if fmt == "tid":
        return bool(TID.match(value))
    return True  # a format this validator does not know: not checked


class Lexicons:
    """The lexicon documents of a directory, by id."""

    def __init__(self, directory: Path = DIRECTORY) -> None:
        self.docs: dict[str, dict[str, Any]] = {}
        for path in sorted(directory.rglob("*.json")):
            doc = json.loads(path.read_text())
            self.docs[doc["id"]] = doc

    def definition(self, ref: str, context: str = "") -> tuple[str, dict[str, Any]]:
        """``(full ref, definition)`` of ``ref`` ("#name", "nsid" or "nsid#name")."""
        nsid, _, name = ref.partition("#")
        nsid = nsid or context
        doc = self.docs.get(nsid)
        if doc is None or (name or "main") not in doc["defs"]:
            raise LexiconMissing(
                f"No lexicon for {nsid}#{name or 'main'}: copy it from the atproto repository's "
                "lexicons/ into tests/fakes/lexicons/."
            )
        return (f"{nsid}#{name}" if name and name != "main" else nsid), doc["defs"][name or "main"]

    # Queries and procedures ------------------------------------------------------------------
    def params(
        self, nsid: str, query: Mapping[str, list[str]], *, strict: bool = True
    ) -> dict[str, Any]:
        """The decoded parameters of a call to ``nsid``, or ``LexiconError``."""
        _, method = self.definition(nsid)
        schema = method.get("parameters") or {"properties": {}}
        properties: Mapping[str, Any] = schema.get("properties", {})
        decoded: dict[str, Any] = {}
        for name, raw_values in query.items():
            values = [v for v in raw_values if v != ""]  # empty values are ignored
            if not values:
                continue
            prop = properties.get(name)
            if prop is None:
                if strict:
                    raise StricterThanServer(f'{nsid} has no parameter "{name}"')
                continue
            if prop["type"] == "array":
                decoded[name] = [self._coerce(name, prop["items"], v) for v in values]
            elif len(values) > 1:
                raise LexiconError(f"{name} must be one {prop['type']}, not {len(values)} values")
            else:
                decoded[name] = self._coerce(name, prop, values[0])
        for name in schema.get("required", []):
            if name not in decoded:
                raise LexiconError(f'Params must have the property "{name}"')
        for name, prop in properties.items():
            if name in decoded:
                self.check(decoded[name], prop, name, nsid, strict=strict)
            elif "default" in prop:
                decoded[name] = prop["default"]
        return decoded

    @staticmethod
    def _coerce(name: str, prop: Mapping[str, Any], value: str) -> Any:
        kind = prop.get("type")
        if kind == "integer":
            if not re.fullmatch(r"-?\d+", value):
                raise LexiconError(f"{name} must be an integer")
            return int(value)
        if kind == "boolean":
            if value not in ("true", "false"):
                raise LexiconError(f"{name} must be a boolean")
            return value == "true"
        return value

    def input(self, nsid: str, body: Any, *, strict: bool = False) -> Mapping[str, Any]:
        """A procedure's JSON input, checked against its schema."""
        _, method = self.definition(nsid)
        schema = (method.get("input") or {}).get("schema")
        if schema is None:
            raise LexiconError(f"{nsid} takes no input")
        self.check(body, schema, "Input", nsid, strict=strict)
        return body

    def record(self, collection: str, record: Any, *, strict: bool = False) -> None:
        """A record of a known collection, checked as the PDS checks it before writing."""
        _, definition = self.definition(collection)
        try:
            self.check(record, definition["record"], "Record", collection, strict=strict)
        except LexiconError as exc:
            raise LexiconError(f"Invalid {collection} record: {exc}") from None

    # Values ----------------------------------------------------------------------------------
    def check(
        self, value: Any, schema: Mapping[str, Any], path: str, context: str, *, strict: bool
    ) -> None:
        """``value`` against the lexicon type ``schema`` (found in lexicon ``context``)."""
        kind = schema.get("type")
        if kind == "ref":
            ref, target = self.definition(schema["ref"], context)
            self.check(value, target, path, ref.partition("#")[0], strict=strict)
        elif kind == "union":
            self._union(value, schema, path, context, strict=strict)
        elif kind in ("object", "params"):
            self._object(value, schema, path, context, strict=strict)
        elif kind == "array":
            if not isinstance(value, list):
                raise LexiconError(f"{path} must be an array")
            if "maxLength" in schema and len(value) > schema["maxLength"]:
                raise LexiconError(f"{path} must not have more than {schema['maxLength']} elements")
            if "minLength" in schema and len(value) < schema["minLength"]:
                raise LexiconError(
                    f"{path} must not have fewer than {schema['minLength']} elements"
                )
            for index, item in enumerate(value):
                self.check(item, schema["items"], f"{path}/{index}", context, strict=strict)
        elif kind == "string":
            self._string(value, schema, path, strict=strict)
        elif kind == "integer":
            if not isinstance(value, int) or isinstance(value, bool):
                raise LexiconError(f"{path} must be an integer")
            if "maximum" in schema and value > schema["maximum"]:
                raise LexiconError(f"{path} can not be greater than {schema['maximum']}")
            if "minimum" in schema and value < schema["minimum"]:
                raise LexiconError(f"{path} can not be less than {schema['minimum']}")
            if "enum" in schema and value not in schema["enum"]:
                raise LexiconError(f"{path} must be one of ({'|'.join(map(str, schema['enum']))})")
        elif kind == "boolean":
            if not isinstance(value, bool):
                raise LexiconError(f"{path} must be a boolean")
        elif kind == "unknown":
            if not isinstance(value, dict):
                raise LexiconError(f"{path} must be an object")
        elif kind in ("blob", "cid-link", "bytes") and not isinstance(value, dict):
            raise LexiconError(f"{path} should be a {kind} (got {type(value).__name__})")

    def _object(
        self, value: Any, schema: Mapping[str, Any], path: str, context: str, *, strict: bool
    ) -> None:
        if not isinstance(value, dict):
            raise LexiconError(f"{path} must be an object")
        nullable = set(schema.get("nullable", []))
        for name in schema.get("required", []):
            if value.get(name) is None and not (name in value and name in nullable):
                raise LexiconError(f'{path} must have the property "{name}"')
        for name, prop in schema.get("properties", {}).items():
            if name not in value or (value[name] is None and name in nullable):
                continue
            self.check(value[name], prop, f"{path}/{name}", context, strict=strict)

    def _union(
        self, value: Any, schema: Mapping[str, Any], path: str, context: str, *, strict: bool
    ) -> None:
        if not isinstance(value, dict):
            raise LexiconError(f'{path} must be an object which includes the "$type" property')
        kind = value.get("$type")
        if not isinstance(kind, str) or not kind:
            raise LexiconError(f'{path} must be an object which includes the "$type" property')
        refs = {}
        for ref in schema.get("refs", []):
            nsid, _, name = ref.partition("#")
            full = f"{nsid or context}#{name}" if name and name != "main" else nsid or context
            refs[full] = ref
        wanted = kind[: -len("#main")] if kind.endswith("#main") else kind
        if wanted not in refs:
            if schema.get("closed"):
                raise LexiconError(f"{path} $type must be one of {', '.join(sorted(refs))}")
            return  # an open union accepts types it does not list
        ref, target = self.definition(refs[wanted], context)
        self.check(value, target, path, ref.partition("#")[0], strict=strict)

    @staticmethod
    def _string(value: Any, schema: Mapping[str, Any], path: str, *, strict: bool) -> None:
        if not isinstance(value, str):
            raise LexiconError(f"{path} must be a string")
        if "const" in schema and value != schema["const"]:
            raise LexiconError(f"{path} must be {schema['const']}")
        if "enum" in schema and value not in schema["enum"]:
            raise LexiconError(f"{path} must be one of ({'|'.join(schema['enum'])})")
        if strict and "knownValues" in schema and value not in schema["knownValues"]:
            raise StricterThanServer(
                f"{path} {value!r} is not one of {', '.join(schema['knownValues'])}"
            )
        size = len(value.encode("utf-8", "surrogatepass"))
        if "maxLength" in schema and size > schema["maxLength"]:
            raise LexiconError(f"{path} must not be longer than {schema['maxLength']} characters")
        if "minLength" in schema and size < schema["minLength"]:
            raise LexiconError(f"{path} must not be shorter than {schema['minLength']} characters")
        if "maxGraphemes" in schema and graphemes(value) > schema["maxGraphemes"]:
            raise LexiconError(f"{path} must not be longer than {schema['maxGraphemes']} graphemes")
        if "minGraphemes" in schema and graphemes(value) < schema["minGraphemes"]:
            raise LexiconError(
                f"{path} must not be shorter than {schema['minGraphemes']} graphemes"
            )
        fmt = schema.get("format")
        if fmt and not _format_ok(fmt, value):
            raise LexiconError(f"{path} must be a valid {fmt}")


#: The lexicons of ``tests/fakes/lexicons/``, loaded once.
LEXICONS = Lexicons()
