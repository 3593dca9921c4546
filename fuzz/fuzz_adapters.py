"""Coverage-guided fuzzing of every platform adapter with atheris (libFuzzer).

The first byte of an input picks the adapter (x, facebook, instagram, mastodon, bluesky: byte
mod 5; ``SOCIALCARE_FUZZ_PLATFORM`` pins one), the rest is the delivery body. Each input is
parsed, signature-checked and used as a challenge query: parsing must give storable events or
the adapter's ``ParseError`` (the property of ``tests/hostile``), the others a bool and a
``Challenge`` or None. Anything else (an exception, a hang past ``-timeout``) is a crash:
libFuzzer writes the input to ``crash-*`` and exits non-zero.

    python fuzz/fuzz_adapters.py --make-corpus DIR     # seeds from the real fixtures
    python fuzz/fuzz_adapters.py --make-dict FILE      # their keys, as a libFuzzer dictionary
    python fuzz/fuzz_adapters.py DIR -max_total_time=20 # fuzz (libFuzzer flags)

Run both through ``scripts/fuzz.sh``. Nothing here is shipped in the package.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import atheris  # noqa: E402

with atheris.instrument_imports(include=["socialcare.platforms"]):
    from socialcare.platforms.base import Challenge
    from tests.hostile.payloads import (
        ADAPTERS,
        CHANNELS,
        FIXTURE_CHANNELS,
        KNOWN_KEYS,
        fixture_bytes,
        parse_cleanly,
    )

PLATFORMS = ("x", "facebook", "instagram", "mastodon", "bluesky")
PINNED = os.environ.get("SOCIALCARE_FUZZ_PLATFORM", "")
SIGNATURE_HEADERS = ("x-twitter-webhooks-signature", "X-Hub-Signature-256")


def platform_of(data: bytes) -> str:
    if PINNED:
        return PINNED
    return PLATFORMS[data[0] % len(PLATFORMS)] if data else PLATFORMS[0]


def test_one_input(data: bytes) -> None:
    platform = platform_of(data)
    body = data[1:]
    adapter = ADAPTERS[platform]
    config = CHANNELS[platform]
    parse_cleanly(platform, body, config)

    text = body.decode("utf-8", "surrogateescape")  # lone surrogates included
    headers = {name: text for name in SIGNATURE_HEADERS}
    assert adapter.verify_signature(body, headers, config) in (True, False)
    params = {
        "crc_token": text,
        "hub.mode": "subscribe",
        "hub.verify_token": text,
        "hub.challenge": text,
    }
    answer = adapter.answer_challenge(params, config)
    assert answer is None or isinstance(answer, Challenge)


def make_corpus(directory: Path) -> int:
    """One seed per fixture and adapter byte: the real deliveries, addressed right."""
    directory.mkdir(parents=True, exist_ok=True)
    count = 0
    for name, config in FIXTURE_CHANNELS.items():
        selector = PLATFORMS.index(config.platform)
        if PINNED and config.platform != PINNED:
            continue
        (directory / name.replace("/", "__")).write_bytes(bytes([selector]) + fixture_bytes(name))
        count += 1
    return count


def make_dictionary(path: Path) -> int:
    """A libFuzzer dictionary: every key of the real payloads, quoted as JSON, and the values
    that steer the adapters (event types, verbs), so mutations reach the code past the shape
    checks."""
    words = {f'"{key}":' for key in KNOWN_KEYS if key.isascii() and key.isprintable()}
    words |= {'"mention"', '"reply"', '"message_create"', '"feed"', '"comment"', '"add"',
              '"edited"', '"remove"', '"page"', '"instagram"', '"subscribe"', '"direct"',
              '"public"', "null", "true", "[]", "{}", '"\\u0000"', '"\\ud800"'}  # fmt: skip
    lines = []
    for word in sorted(words):
        escaped = "".join(
            c if c.isalnum() or c in " :_.$#[]{}" else f"\\x{ord(c):02x}" for c in word
        )
        lines.append(f'"{escaped}"')
    path.write_text("\n".join(lines) + "\n")
    return len(lines)


def main() -> None:
    if len(sys.argv) == 3 and sys.argv[1] == "--make-corpus":
        print(f"fuzz: {make_corpus(Path(sys.argv[2]))} seeds in {sys.argv[2]}")
        return
    if len(sys.argv) == 3 and sys.argv[1] == "--make-dict":
        print(f"fuzz: {make_dictionary(Path(sys.argv[2]))} words in {sys.argv[2]}")
        return
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
