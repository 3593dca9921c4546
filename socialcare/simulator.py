"""Live traffic for the demo and for benchmarks: ``manage.py socialcare_simulate``.

Three parts, used by the management command (which only parses options and prints):

* ``Simulator`` makes posts in the platforms' real wire formats: X Account Activity deliveries
  (``tweet_create_events`` with user objects, ``direct_message_events`` with the ``users`` map),
  Meta deliveries (Page ``feed`` comments and replies, Messenger ``messaging``, Instagram
  ``comments`` and messaging), Mastodon notifications and Bluesky notifications with their authors'
  profiles. Customers come from a fixed pool (several languages, emoji, heavy-tailed follower
  counts): some write again in the thread they started, some answer another customer, about 30 %
  write privately. Everything the seed decides (who writes what, where, in which order) repeats
  with the same ``seed``; ids and times come from the clock, so a second run makes new posts.
* ``FakePlatformAPI`` is a small threaded HTTP server on 127.0.0.1 that plays the Mastodon and
  Bluesky APIs for polled channels (``/api/v1/notifications``; ``createSession``,
  ``listNotifications``, ``getProfiles``), serving what the simulator generated.
* ``Run`` sends webhook deliveries, signed with each channel's stored ``webhook_secret``, to a
  running server over HTTP (at a rate, with parallel senders), points polled channels at the fake
  API for the run (restoring their base URL and cursor afterwards, also on Ctrl-C) and calls the
  polling service every couple of seconds, and counts what happened.

See docs/simulator.md.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import html
import json
import random
import re
import statistics
import threading
import time
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx

__all__ = [
    "EXAMPLE_TARGETS",
    "POLLED_PLATFORMS",
    "POOL",
    "SIMULATED_PLATFORMS",
    "WEBHOOK_PLATFORMS",
    "FakePlatformAPI",
    "Options",
    "ProgressLine",
    "Run",
    "SimPost",
    "Simulator",
    "SimulatorError",
    "Stats",
    "Target",
    "crowd_member",
    "dry_run",
    "load_targets",
    "meta_signature",
    "summary",
    "x_signature",
]

WEBHOOK_PLATFORMS = ("x", "facebook", "instagram")
POLLED_PLATFORMS = ("mastodon", "bluesky")
SIMULATED_PLATFORMS = WEBHOOK_PLATFORMS + POLLED_PLATFORMS

#: How often each platform gets a post, relative to the others (split among its channels).
PLATFORM_WEIGHTS = {"x": 3.0, "facebook": 2.0, "instagram": 2.0, "mastodon": 1.0, "bluesky": 1.0}
#: A new post on a platform with private messages is private this often (Bluesky has none here,
#: so about 30 % of all posts end up private).
PRIVATE_SHARE = 0.34
#: Of all posts: the same customer writing again in their thread or conversation, and another
#: customer answering someone's public post ("same here").
FOLLOW_UP_SHARE = 0.2
ME_TOO_SHARE = 0.08
#: The recent public posts and open conversations follow-ups pick from.
HISTORY = 200

USER_AGENT = "socialcare-simulator/1"
X_SIGNATURE_HEADER = "x-twitter-webhooks-signature"
META_SIGNATURE_HEADER = "X-Hub-Signature-256"
TWITTER_EPOCH_MS = 1288834974657
FAKE_PREFIX = "/socialcare-simulator"
#: At the end, stop waiting for the worker when it made no progress for this long.
STALL_SECONDS = 3.0


class SimulatorError(Exception):
    """Something that stops a simulation before it starts (the command turns it into an error)."""


# Signatures, exactly as the platforms make them (and the adapters check them) ----------------------
def x_signature(body: bytes, secret: str) -> str:
    """``x-twitter-webhooks-signature``: ``sha256=`` + base64 HMAC-SHA256 of the raw body."""
    digest = hmac.new(secret.encode(), body, hashlib.sha256).digest()
    return "sha256=" + base64.b64encode(digest).decode("ascii")


def meta_signature(body: bytes, secret: str) -> str:
    """``X-Hub-Signature-256``: ``sha256=`` + lowercase hex HMAC-SHA256 of the raw body."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def _meta_sha1(body: bytes, secret: str) -> str:
    """The legacy ``X-Hub-Signature`` Meta still sends next to the SHA-256 one."""
    return "sha1=" + hmac.new(secret.encode(), body, hashlib.sha1).hexdigest()


# Who writes ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Persona:
    """A customer of the pool. Their ids on each platform are derived from ``key`` (stable across
    runs and seeds), unless fixed: a few are the people of the platform fixtures and demo data."""

    key: str
    name: str
    handle: str
    lang: str
    followers: int
    verified: bool = False
    #: Mastodon: the server of their account ("" = the brand's own server, a local account).
    server: str = ""
    fixed_ids: tuple[tuple[str, str], ...] = ()

    def user_id(self, platform: str) -> str:
        fixed = dict(self.fixed_ids).get(platform)
        if fixed:
            return fixed
        match platform:
            case "x":
                return str(_stable_int("x", self.key, digits=18))
            case "facebook":
                return str(_stable_int("facebook", self.key, digits=16))
            case "instagram":
                return str(_stable_int("instagram", self.key, digits=17))
            case "mastodon":  # the account's id on the brand's server
                return str(_stable_int("mastodon", self.key, digits=18))
            case _:  # bluesky
                return "did:plc:" + _b32(hashlib.sha256(f"did:{self.key}".encode()).digest())[:24]

    def handle_on(self, platform: str) -> str:
        plain = _ascii(self.handle)
        match platform:
            case "x" | "mastodon":
                return re.sub(r"[^A-Za-z0-9_]", "_", plain)[: 15 if platform == "x" else 30]
            case "bluesky":
                label = re.sub(r"[^a-z0-9-]", "-", plain.lower()).strip("-")[:40]
                return f"{label}.bsky.social"
            case _:
                return re.sub(r"[^A-Za-z0-9_.]", "_", plain).lower()


def _stable_int(*parts: str, digits: int) -> int:
    value = int.from_bytes(hashlib.sha256(":".join(parts).encode()).digest()[:12], "big")
    return 10 ** (digits - 1) + value % (9 * 10 ** (digits - 1))


def _b32(raw: bytes) -> str:
    return base64.b32encode(raw).decode("ascii").lower().rstrip("=")


def _ascii(text: str) -> str:
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")


def _followers(key: str) -> int:
    """Heavy-tailed, like real audiences: most a few dozen, some thousands, rarely 100k+."""
    rng = random.Random(f"followers:{key}")
    return min(int(12 * rng.paretovariate(0.8)) + rng.randint(0, 60), 3_000_000)


# key, name, handle, language, followers (None: drawn), verified, Mastodon server, fixed ids.
_PEOPLE: list[tuple[str, str, str, str, int | None, bool, str, tuple[tuple[str, str], ...]]] = [
    ("priya", "Priya 🌿", "priya_reads", "en", 48_210, True, "", (("x", "987654321012345678"),)),
    ("tanu", "Tanu Learns", "TanuLearns", "en", 20, False, "", (("x", "1247048165561270272"),)),
    ("jonas", "Jonas Müller", "jmueller_berlin", "de", None, False, "chaos.social",
     (("facebook", "5522113344556677"),)),
    ("susie", "Susie Avellanosa", "susie.avellanosa", "en", None, False, "",
     (("facebook", "3450429531722233"),)),
    ("kenji", "田中 健二", "kenji.tanaka_", "ja", None, False, "mstdn.jp",
     (("instagram", "1068245441393221"),)),
    ("lena", "Lena ☕", "lena", "de", 2045, False, "fosstodon.org", ()),
    ("zsc", "Zsc", "zsc", "en", 112, False, "", ()),
    ("marcus", "Marcus Reid", "marcusreidtech", "en", 412_000, True, "", ()),
    ("zoe", "Zoë Brooks 🎧", "zoebrooksmusic", "en", 156_000, True, "", ()),
    ("emily", "Emily Carter", "emcarter", "en", None, False, "mastodon.online", ()),
    ("aisha", "Aisha Khan", "aisha_k_design", "en", None, False, "", ()),
    ("tom", "Tom O'Connor", "tomoc", "en", None, False, "", ()),
    ("grace", "Grace Liu 🚀", "graceliu", "en", 9_800, False, "hachyderm.io", ()),
    ("seun", "Oluwaseun Adeyemi", "seun_adeyemi", "en", None, False, "", ()),
    ("ryan", "Ryan Nguyen", "ryannguyen", "en", None, False, "", ()),
    ("lea", "Lea Schäfer", "lea.schaefer", "de", None, False, "", ()),
    ("bjoern", "Björn Weiß", "bjoern_weiss", "de", None, False, "chaos.social", ()),
    ("karl", "Karl-Heinz Größmann", "kh_groessmann", "de", None, False, "", ()),
    ("misaki", "佐藤 美咲", "misaki_sato", "ja", None, False, "mstdn.jp", ()),
    ("hina", "鈴木 陽菜 🌸", "hina_suzuki", "ja", None, False, "", ()),
    ("lucia", "Lucía Fernández", "luciafdez", "es", None, False, "", ()),
    ("javier", "Javier Ruiz 🎸", "javiruiz", "es", 23_400, False, "", ()),
    ("sofia", "Sofía Martínez", "sofimtz", "es", None, False, "mastodon.online", ()),
    ("mateo", "Mateo García", "mateogarcia", "es", None, False, "", ()),
    ("chloe", "Chloé Dubois 🌻", "chloe.dbs", "fr", None, False, "", ()),
    ("emilie", "Émilie Laurent", "emilie.laurent", "fr", None, False, "", ()),
]  # fmt: skip

POOL: tuple[Persona, ...] = tuple(
    Persona(key, name, handle, lang, _followers(key) if followers is None else followers,
            verified, server, fixed)
    for key, name, handle, lang, followers, verified, server, fixed in _PEOPLE
)  # fmt: skip

# The crowd of a spike: first and last names per language; (display, handle part) pairs.
_NAMES: dict[str, tuple[list[tuple[str, str]], list[tuple[str, str]]]] = {
    "en": ([(n, n) for n in ("Emily", "James", "Olivia", "Noah", "Ava", "Liam", "Grace", "Ethan",
                             "Chloe", "Marcus", "Aisha", "Ryan", "Hannah", "Tyler", "Megan",
                             "Jordan")],
           [(n, _ascii(n).replace("'", "")) for n in ("Carter", "Reid", "Walsh", "Patel",
                                                      "Nguyen", "Brooks", "O'Connor", "Hughes",
                                                      "Kim", "Foster", "Bennett", "Lopez")]),
    "de": ([(n, _ascii(n)) for n in ("Jonas", "Lea", "Lukas", "Anja", "Björn", "Jürgen", "Katrin",
                                     "Felix", "Sören", "Mia")],
           [(n, _ascii(n)) for n in ("Müller", "Schäfer", "Weiß", "Köhler", "Becker", "Hoffmann",
                                     "Groß", "Vogel", "Krüger", "Schmitz")]),
    "es": ([(n, _ascii(n)) for n in ("Lucía", "Javier", "Sofía", "Mateo", "Carmen", "Diego",
                                     "Valentina", "Pablo")],
           [(n, _ascii(n)) for n in ("Fernández", "Ruiz", "Martínez", "García", "López", "Sánchez",
                                     "Romero", "Navarro")]),
    "ja": ([("健二", "kenji"), ("美咲", "misaki"), ("陽菜", "hina"), ("翔", "sho"), ("結衣", "yui"),
            ("大輔", "daisuke")],
           [("田中", "tanaka"), ("佐藤", "sato"), ("鈴木", "suzuki"), ("高橋", "takahashi"),
            ("伊藤", "ito"), ("渡辺", "watanabe")]),
    "fr": ([(n, _ascii(n)) for n in ("Chloé", "Émilie", "Louis", "Camille", "Théo")],
           [(n, _ascii(n)) for n in ("Dubois", "Laurent", "Moreau", "Lefèvre", "Girard")]),
}  # fmt: skip
_EMOJI_SUFFIXES = ("", "", "", " 🎧", " 🌿", " ☕", " 🚀", " 🌻", " 🐾", " ✨")
_SERVERS = ("", "", "mastodon.online", "fosstodon.org", "hachyderm.io", "chaos.social", "mstdn.jp")
_SPIKE_LANGS = (("en", 0.7), ("de", 0.1), ("es", 0.1), ("ja", 0.05), ("fr", 0.05))


def crowd_member(index: int) -> Persona:
    """The ``index``-th person of a spike's crowd: distinct people, the same ones every run."""
    rng = random.Random(f"crowd:{index}")
    lang = _weighted(rng, _SPIKE_LANGS)
    firsts, lasts = _NAMES[lang]
    (first, first_h), (last, last_h) = rng.choice(firsts), rng.choice(lasts)
    name = f"{last} {first}" if lang == "ja" else f"{first} {last}"
    key = f"crowd-{index}"
    return Persona(
        key=key,
        name=name + rng.choice(_EMOJI_SUFFIXES),
        handle=f"{first_h.lower()}{rng.choice(('', '_', '.'))}{last_h.lower()}{index}",
        lang=lang,
        followers=_followers(key),
        server=rng.choice(_SERVERS),
    )


def _weighted(rng: random.Random, choices: Sequence[tuple[Any, float]]) -> Any:
    total = sum(weight for _, weight in choices)
    point = rng.random() * total
    for value, weight in choices:
        point -= weight
        if point < 0:
            return value
    return choices[-1][0]


# What they write ----------------------------------------------------------------------------------
PRODUCTS = ("Acme Hub", "Acme Cam", "Acme Smoke Sensor")

#: language -> category -> templates. Placeholders: {product} {order} {days} {email} {serial}.
#: "follow_up" answers the writer's own complaint or question; "me_too" someone else's complaint.
TEXTS: dict[str, dict[str, list[str]]] = {
    "en": {
        "complaint": [
            "my {product} has been offline since the update last night. Rebooted it three times, "
            "still nothing. Really frustrating 😤",
            "ordered an {product} {days} days ago (order {order}) and the tracking hasn't moved "
            "since. Where is it?",
            "the checkout keeps failing at the payment step, I tried two cards. Is it broken? #fail",
            "you charged me twice for Acme Plus this month. I want a refund, not another chatbot.",
            "the app logs me out every time I switch tabs and I lose my cart 🙄",
            "{days} days waiting for an answer from support. This is ridiculous.",
        ],
        "question": [
            "does the {product} work with Apple Home, or only with the Acme app?",
            "quick question: can I still change the delivery address of order {order}? 📦",
            "is there a student discount on Acme Plus?",
            "how do I reset the {product} to factory settings? The manual doesn't say.",
        ],
        "praise": [
            "shoutout to your support team, Raj fixed my {product} in 5 minutes 🙌",
            "the new {product} is amazing, setup took two minutes. Love it ❤️",
            "thanks for the quick refund, really appreciated! 👍",
        ],
        "private": [
            "Hi! My order number is {order} and it still hasn't arrived. The email on my account "
            "is {email}.",
            "Hello, I'd like to cancel my Acme Plus subscription. How do I do that?",
            "Hi, my {product} shows a red light and won't pair. Serial number {serial}.",
            "Can you send me an invoice for order {order}? I need it for work 🧾",
        ],
        "follow_up": [
            "any update on this?",
            "hello?? anyone there? 😤",
            "still waiting for an answer…",
            "ok, sorted now. Thanks! 🙏",
        ],
        "private_follow_up": [
            "Any news on this?",
            "I just checked again, nothing has changed.",
            "Thanks, that worked!",
        ],
        "me_too": [
            "same here, my {product} has been acting up all morning",
            "+1, exactly the same problem since yesterday",
            "glad it's not just me 😩",
        ],
    },
    "de": {
        "complaint": [
            "Meine Bestellung {order} ist seit {days} Tagen „in Zustellung“. Was ist da los? 😠",
            "Seit dem Update verliert {product} ständig die WLAN-Verbindung. So macht das keinen "
            "Spaß.",
            "Beim Bezahlen kommt jedes Mal ein Fehler. Ist der Checkout kaputt? #fail",
            "Ich wurde doppelt abgebucht. Bitte um Erstattung!",
        ],
        "question": [
            "Funktioniert {product} auch ohne Cloud-Konto?",
            "Kann ich die Lieferadresse für {order} noch ändern?",
        ],
        "praise": [
            "Danke an den Support, super schnelle Hilfe! 👍",
            "Das neue Update für {product} ist richtig gut geworden 😍",
        ],
        "private": [
            "Hallo, meine Bestellnummer ist {order}. Die Lieferung fehlt noch. Meine E-Mail: "
            "{email}",
            "Hallo, wie kündige ich Acme Plus? Im Konto finde ich nichts.",
        ],
        "follow_up": [
            "Gibt es schon Neuigkeiten?",
            "Immer noch keine Antwort…",
            "Hat sich erledigt, danke!",
        ],
        "private_follow_up": ["Gibt es etwas Neues?", "Danke, hat geklappt!"],
        "me_too": ["Bei mir genauso!", "Dito, seit gestern das gleiche Problem 😕"],
    },
    "ja": {
        "complaint": [
            "{product}が昨日のアップデートからオフラインのままです。再起動しても直りません😢",
            "注文{order}がまだ届きません。もう{days}日経っています。",
            "決済画面でエラーが出て購入できません。",
        ],
        "question": [
            "{product}はApple Homeに対応していますか？",
            "注文{order}の配送先を変更できますか？",
        ],
        "praise": [
            "サポートの対応がとても早くて助かりました！ありがとうございます🙏",
            "新しい{product}、最高です✨",
        ],
        "private": [
            "こんにちは。注文番号は{order}です。まだ届いていません。",
            "{product}のシリアル番号は{serial}です。ペアリングできません。",
        ],
        "follow_up": [
            "その後どうなりましたか？",
            "まだ返信がありません…",
            "解決しました！ありがとうございます🙏",
        ],
        "private_follow_up": ["進捗はいかがでしょうか？", "ありがとうございました！"],
        "me_too": ["私も同じです。", "うちも昨日から同じ症状です😢"],
    },
    "es": {
        "complaint": [
            "Mi pedido {order} lleva {days} días sin moverse. ¿Qué pasa? 😡",
            "Mi {product} se desconecta cada hora. Muy decepcionado.",
            "Me habéis cobrado dos veces este mes. Quiero un reembolso.",
        ],
        "question": [
            "¿{product} funciona con Google Home?",
            "¿Puedo cambiar la dirección de envío del pedido {order}?",
        ],
        "praise": [
            "¡Gracias al equipo de soporte, lo solucionaron en minutos! 🙌",
            "Me encanta mi nuevo {product} 😍",
        ],
        "private": [
            "Hola, mi número de pedido es {order}. Todavía no ha llegado. Mi correo es {email}.",
            "Hola, ¿cómo cancelo mi suscripción a Acme Plus?",
        ],
        "follow_up": [
            "¿Alguna novedad?",
            "Sigo esperando respuesta…",
            "¡Ya está resuelto, gracias!",
        ],
        "private_follow_up": ["¿Hay novedades?", "¡Gracias, ya está!"],
        "me_too": ["¡A mí me pasa lo mismo!", "Igual aquí desde ayer 😕"],
    },
    "fr": {
        "complaint": [
            "Ma commande {order} n'est toujours pas arrivée après {days} jours. 😤",
            "Mon {product} se déconnecte sans arrêt depuis la mise à jour.",
        ],
        "question": ["{product} est-il compatible avec Alexa ?"],
        "praise": ["Merci pour la réponse rapide, problème réglé ! 👏"],
        "private": ["Bonjour, mon numéro de commande est {order}. Toujours rien reçu."],
        "follow_up": ["Des nouvelles ?", "Toujours rien…"],
        "private_follow_up": ["Des nouvelles de ma commande ?"],
        "me_too": ["Pareil pour moi.", "Même problème ici 😕"],
    },
}

#: Negative posts about one topic, for ``--spike``. {topic} is the topic, {Topic} capitalized,
#: {tag} the topic as a hashtag.
SPIKE_TEXTS: dict[str, list[str]] = {
    "en": [
        "the {topic} is broken AGAIN. Tried three times, nothing works. Terrible 😡 #{tag}",
        "is {topic} down for everyone? Worst experience ever, I give up.",
        "{topic} keeps failing with an error. This is ridiculous, fix it! #{tag}fail",
        "awful. The {topic} crashed and I was charged twice. Furious.",
        "your {topic} has been broken for an hour. Horrible, I'm done with you 😤",
        "still can't get through {topic}. Useless. Angry customer here 👎",
        "{Topic} error again?! Lost my whole order. Unacceptable and frustrating. #{tag}",
    ],
    "de": [
        "{Topic} geht schon wieder nicht. Katastrophe 😡 #{tag}",
        "Seit einer Stunde ist {topic} kaputt. Unfassbar schlecht.",
    ],
    "es": ["¡{Topic} no funciona otra vez! Qué desastre 😡 #{tag}", "{Topic} roto desde hace una hora. Fatal."],
    "ja": ["{topic}がまたエラーで使えません。最悪です😡 #{tag}"],
    "fr": ["{Topic} ne marche toujours pas. Lamentable 😡 #{tag}"],
}  # fmt: skip

_CATEGORIES = (("complaint", 0.55), ("question", 0.3), ("praise", 0.15))
_HASHTAG = re.compile(r"#(\w+)")


def _fill(template: str, persona: Persona, rng: random.Random, topic: str = "") -> str:
    values = {
        "product": rng.choice(PRODUCTS),
        "order": f"AC-{rng.randrange(10_000, 99_999)}",
        "days": str(rng.randint(3, 14)),
        "email": f"{persona.handle_on('instagram').replace('_', '.').strip('.')}@example.com",
        "serial": f"AC{rng.randrange(10**9, 10**10)}",
        "topic": topic,
        "Topic": topic[:1].upper() + topic[1:],
        "tag": re.sub(r"\W", "", topic.title().replace(" ", "")) or "fail",
    }
    return template.format(**values)


# Channels as the simulator sees them ------------------------------------------------------------
@dataclass(frozen=True)
class Target:
    """A channel to simulate for: what the generator and the senders need, no model instance."""

    channel_id: int
    name: str
    platform: str
    account_id: str
    handle: str = ""
    #: The channel's ``webhook_secret`` (webhook platforms): deliveries are signed with it.
    secret: str = ""
    verify_token: str = ""
    #: The channel's ``access_token`` (polled platforms): what the fake API accepts.
    access_token: str = ""
    #: Mastodon: the brand's own server (host of the channel's real base URL).
    home: str = "mastodon.social"

    @property
    def polled(self) -> bool:
        return self.platform in POLLED_PLATFORMS

    @property
    def supports_private(self) -> bool:
        return self.platform != "bluesky"

    @property
    def brand_handle(self) -> str:
        handle = self.handle.strip().lstrip("@")
        if self.platform == "bluesky":
            return handle or "acme.support"
        return handle or "AcmeHelp"

    def __str__(self) -> str:
        return f"{self.name} ({self.platform} #{self.channel_id})"


#: Brand accounts for ``--dry-run`` without channels: those of the platform fixtures.
EXAMPLE_TARGETS = (
    Target(0, "Example X account", "x", "1114259648326987776", "AcmeHelp", "example-secret"),
    Target(0, "Example Page", "facebook", "103149398319188", "acme", "example-secret"),
    Target(0, "Example Instagram", "instagram", "17841405309211844", "acme", "example-secret"),
    Target(0, "Example Mastodon", "mastodon", "14715", "acmehelp", access_token="example"),
    Target(0, "Example Bluesky", "bluesky", "did:plc:acmesupport000000000000", "acme.support",
           access_token="example"),
)  # fmt: skip


@dataclass(frozen=True)
class SimPost:
    """One generated post: a signed webhook delivery, or a notification for the fake API."""

    target: Target
    persona: Persona
    kind: str  # mention | reply | comment | direct_message (as ingest will store it)
    visibility: str  # public | private
    text: str
    external_id: str  # the id ingest stores the post under
    category: str
    thread: bool = False  # answers an earlier post (a thread or a conversation)
    spike: bool = False
    body: bytes = b""
    headers: Mapping[str, str] = field(default_factory=dict)
    #: Polled platforms: the notification (Mastodon, Bluesky) and the author's profile (Bluesky).
    item: Mapping[str, Any] | None = None
    profile: Mapping[str, Any] | None = None

    def describe(self) -> str:
        who = self.persona.handle_on(self.target.platform)
        flags = " (spike)" if self.spike else (" (thread)" if self.thread else "")
        return f"{self.target.platform} {self.kind} by {who} [{self.persona.lang}]{flags}"


@dataclass
class _Ref:
    """A generated post that a later one may answer."""

    target: Target
    persona: Persona
    private: bool
    category: str
    data: dict[str, Any]


@dataclass
class _Draft:
    persona: Persona
    private: bool
    text: str
    category: str
    parent: _Ref | None = None
    spike: bool = False


# The generator --------------------------------------------------------------------------------------
class Simulator:
    """Makes posts for ``targets``. Not thread-safe: one thread generates, others may send."""

    def __init__(
        self,
        targets: Sequence[Target],
        *,
        seed: int,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not targets:
            raise ValueError("The simulator needs at least one target channel.")
        self.targets = list(targets)
        self.rng = random.Random(seed)
        self.clock = clock
        self._last_ms = 0
        self._seq = 0
        self._crowd = 0
        self._public: list[_Ref] = []
        self._conversations: dict[tuple[Target, str], _Ref] = {}
        counts = Counter(t.platform for t in self.targets)
        self._weights = [
            (t, PLATFORM_WEIGHTS.get(t.platform, 1.0) / counts[t.platform]) for t in self.targets
        ]

    # Public API ----------------------------------------------------------------------------------
    def next_post(self) -> SimPost:
        """The next post of the normal stream."""
        rng = self.rng
        target = _weighted(rng, self._weights)
        roll = rng.random()
        if roll < FOLLOW_UP_SHARE:
            draft = self._follow_up(target)
        elif roll < FOLLOW_UP_SHARE + ME_TOO_SHARE:
            draft = self._me_too(target)
        else:
            draft = None
        return self._build(target, draft or self._new_draft(target))

    def spike(self, count: int, topic: str) -> list[SimPost]:
        """``count`` negative public posts about ``topic``, each from a different person."""
        posts = []
        for _ in range(count):
            target = _weighted(self.rng, self._weights)
            persona = crowd_member(self._crowd)
            self._crowd += 1
            template = self.rng.choice(SPIKE_TEXTS[persona.lang])
            text = _fill(template, persona, self.rng, topic)
            draft = _Draft(persona, False, text, "complaint", spike=True)
            posts.append(self._build(target, draft))
        return posts

    def sample(self, target: Target) -> SimPost:
        """A new public post on ``target`` (for ``--dry-run``)."""
        persona = self.rng.choice(POOL)
        template = self.rng.choice(TEXTS[persona.lang]["complaint"])
        return self._build(
            target, _Draft(persona, False, _fill(template, persona, self.rng), "complaint")
        )

    # Drafting ----------------------------------------------------------------------------------
    def _new_draft(self, target: Target) -> _Draft:
        rng = self.rng
        persona = rng.choice(POOL)
        private = target.supports_private and rng.random() < PRIVATE_SHARE
        category = "private" if private else _weighted(rng, _CATEGORIES)
        template = rng.choice(TEXTS[persona.lang][category])
        return _Draft(persona, private, _fill(template, persona, rng), category)

    def _follow_up(self, target: Target) -> _Draft | None:
        """The author of an earlier post on ``target`` writes again in that thread/conversation."""
        rng = self.rng
        mine = [r for r in self._public if r.target == target and r.category != "praise"]
        chats = [r for (t, _), r in self._conversations.items() if t == target]
        pool = mine[-30:] + chats[-15:]
        if not pool:
            return None
        parent = rng.choice(pool)
        category = "private_follow_up" if parent.private else "follow_up"
        template = rng.choice(TEXTS[parent.persona.lang][category])
        text = _fill(template, parent.persona, rng)
        return _Draft(parent.persona, parent.private, text, category, parent=parent)

    def _me_too(self, target: Target) -> _Draft | None:
        """Someone else answers a customer's public post on ``target``."""
        rng = self.rng
        candidates = [r for r in self._public if r.target == target and r.category == "complaint"][
            -30:
        ]
        if not candidates:
            return None
        parent = rng.choice(candidates)
        others = [p for p in POOL if p.key != parent.persona.key]
        persona = rng.choice(others)
        template = rng.choice(TEXTS[persona.lang]["me_too"])
        return _Draft(persona, False, _fill(template, persona, rng), "me_too", parent=parent)

    # Ids and times -------------------------------------------------------------------------------
    def _tick(self) -> tuple[int, int]:
        """(milliseconds, sequence): strictly increasing pairs, even within one millisecond."""
        ms = max(int(self.clock() * 1000), self._last_ms)
        if ms == self._last_ms:
            self._seq += 1
        else:
            self._last_ms, self._seq = ms, 0
        return ms, self._seq

    def _remember(self, ref: _Ref) -> None:
        if ref.private:
            self._conversations[(ref.target, ref.persona.key)] = ref
            if len(self._conversations) > HISTORY:
                self._conversations.pop(next(iter(self._conversations)))
        else:
            self._public.append(ref)
            del self._public[:-HISTORY]

    # Building ----------------------------------------------------------------------------------
    def _build(self, target: Target, draft: _Draft) -> SimPost:
        builder = {
            "x": self._x,
            "facebook": self._facebook,
            "instagram": self._instagram,
            "mastodon": self._mastodon,
            "bluesky": self._bluesky,
        }[target.platform]
        post, data = builder(target, draft)
        if not draft.spike:
            category = draft.parent.category if draft.parent else draft.category
            self._remember(_Ref(target, draft.persona, draft.private, category, data))
        return post

    def _post(self, target: Target, draft: _Draft, **fields: Any) -> SimPost:
        return SimPost(
            target=target,
            persona=draft.persona,
            visibility="private" if draft.private else "public",
            category=draft.category,
            thread=draft.parent is not None,
            spike=draft.spike,
            **fields,
        )

    # X: Account Activity API ----------------------------------------------------------------------
    def _x_user(self, persona: Persona) -> dict[str, Any]:
        user_id = persona.user_id("x")
        handle = persona.handle_on("x")
        created = dt.datetime(2010, 1, 1, tzinfo=dt.UTC) + dt.timedelta(
            seconds=_stable_int("created", persona.key, digits=9) % (14 * 365 * 86400)
        )
        return {
            "id": int(user_id),
            "id_str": user_id,
            "name": persona.name,
            "screen_name": handle,
            "location": None,
            "url": None,
            "description": "",
            "protected": False,
            "verified": persona.verified,
            "followers_count": persona.followers,
            "friends_count": _stable_int("friends", persona.key, digits=3) % 900,
            "listed_count": persona.followers // 200,
            "favourites_count": _stable_int("favs", persona.key, digits=4),
            "statuses_count": _stable_int("statuses", persona.key, digits=4),
            "created_at": _x_time(created),
            "profile_image_url_https": f"https://pbs.twimg.com/profile_images/{user_id[:12]}/avatar_normal.jpg",
            "default_profile": True,
            "default_profile_image": False,
        }

    def _x(self, target: Target, draft: _Draft) -> tuple[SimPost, dict[str, Any]]:
        ms, seq = self._tick()
        persona = draft.persona
        user = self._x_user(persona)
        brand_id, brand = target.account_id, target.brand_handle
        if draft.private:
            event_id = str(((ms - TWITTER_EPOCH_MS) << 22) | (seq % 4096))
            escaped = html.escape(draft.text, quote=False)
            brand_user = {
                "id": brand_id,
                "created_timestamp": "1488090992969",
                "name": target.name,
                "screen_name": brand,
                "protected": False,
                "verified": True,
                "followers_count": 120_000,
                "friends_count": 10,
                "statuses_count": 52_000,
                "profile_image_url_https": "https://pbs.twimg.com/profile_images/1/brand_normal.jpg",
            }
            sender = {
                "id": user["id_str"],
                "created_timestamp": str(_stable_int("created", persona.key, digits=12)),
                **{k: user[k] for k in ("name", "screen_name", "description", "protected",
                                        "verified", "followers_count", "friends_count",
                                        "statuses_count", "profile_image_url_https")},
            }  # fmt: skip
            payload = {
                "for_user_id": brand_id,
                "direct_message_events": [
                    {
                        "type": "message_create",
                        "id": event_id,
                        "created_timestamp": str(ms),
                        "message_create": {
                            "target": {"recipient_id": brand_id},
                            "sender_id": user["id_str"],
                            "source_app_id": "3033300",
                            "message_data": {
                                "text": escaped,
                                "entities": {
                                    "hashtags": _hashtags(escaped),
                                    "symbols": [],
                                    "user_mentions": [],
                                    "urls": [],
                                },
                            },
                        },
                    }
                ],
                "apps": {
                    "3033300": {
                        "id": "3033300",
                        "name": "Twitter Web App",
                        "url": "https://mobile.twitter.com",
                    }
                },
                "users": {user["id_str"]: sender, brand_id: brand_user},
            }
            post = self._post(
                target, draft, kind="direct_message", text=draft.text, external_id=event_id,
                **self._signed_x(target, payload),
            )  # fmt: skip
            return post, {"dm": event_id}

        tweet_id = ((ms - TWITTER_EPOCH_MS) << 22) | (1 << 12) | (seq % 4096)
        parent = draft.parent.data if draft.parent else None
        mentions = []  # (screen name, id) in the order they lead the text
        if parent and parent["user_id"] != user["id_str"]:
            mentions.append((parent["screen_name"], parent["user_id"]))
        mentions.append((brand, brand_id))
        prefix = "".join(f"@{name} " for name, _ in mentions)
        full_text = prefix + draft.text
        escaped = html.escape(full_text, quote=False)
        user_mentions, position = [], 0
        for name, uid in mentions:
            user_mentions.append(
                {"screen_name": name, "name": name, "id": int(uid) if uid.isdigit() else uid,
                 "id_str": uid, "indices": [position, position + len(name) + 1]}
            )  # fmt: skip
            position += len(name) + 2
        entities = {
            "hashtags": _hashtags(escaped),
            "urls": [],
            "user_mentions": user_mentions,
            "symbols": [],
        }
        tweet: dict[str, Any] = {
            "created_at": _x_time(dt.datetime.fromtimestamp(ms / 1000, dt.UTC)),
            "id": tweet_id,
            "id_str": str(tweet_id),
            "text": escaped,
            "source": '<a href="https://mobile.twitter.com" rel="nofollow">Twitter Web App</a>',
            "truncated": False,
            "in_reply_to_status_id": int(parent["id"]) if parent else None,
            "in_reply_to_status_id_str": parent["id"] if parent else None,
            "in_reply_to_user_id": int(parent["user_id"])
            if parent
            else int(brand_id)
            if brand_id.isdigit()
            else None,
            "in_reply_to_user_id_str": parent["user_id"] if parent else brand_id,
            "in_reply_to_screen_name": parent["screen_name"] if parent else brand,
            "user": user,
            "geo": None,
            "coordinates": None,
            "place": None,
            "contributors": None,
            "is_quote_status": False,
            "quote_count": 0,
            "reply_count": 0,
            "retweet_count": 0,
            "favorite_count": 0,
            "entities": entities,
            "favorited": False,
            "retweeted": False,
            "filter_level": "low",
            "lang": persona.lang,
            "timestamp_ms": str(ms),
        }
        if len(escaped) > 140:  # a long tweet: the classic text is cut, the full text is extended
            link = f"https://t.co/{_b32(hashlib.sha256(str(tweet_id).encode()).digest())[:10]}"
            cut = escaped[:115].rstrip() + "… " + link
            tweet["text"] = cut
            tweet["truncated"] = True
            tweet["display_text_range"] = [len(prefix), len(cut)]
            tweet["entities"] = {
                "hashtags": [], "user_mentions": user_mentions, "symbols": [],
                "urls": [{"url": link, "expanded_url": f"https://twitter.com/i/web/status/{tweet_id}",
                          "display_url": f"twitter.com/i/web/status/{str(tweet_id)[:4]}…",
                          "indices": [len(cut) - len(link), len(cut)]}],
            }  # fmt: skip
            tweet["extended_tweet"] = {
                "full_text": escaped,
                "display_text_range": [len(prefix), len(escaped)],
                "entities": entities,
            }
        payload = {
            "for_user_id": brand_id,
            "user_has_blocked": False,
            "tweet_create_events": [tweet],
        }
        post = self._post(
            target, draft, kind="reply" if parent else "mention", text=full_text,
            external_id=str(tweet_id), **self._signed_x(target, payload),
        )  # fmt: skip
        return post, {
            "id": str(tweet_id),
            "user_id": user["id_str"],
            "screen_name": user["screen_name"],
        }

    def _signed_x(self, target: Target, payload: Mapping[str, Any]) -> dict[str, Any]:
        body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "User-Agent": USER_AGENT,
            X_SIGNATURE_HEADER: x_signature(body, target.secret),
        }
        return {"body": body, "headers": headers}

    # Meta: Facebook Page feed, Messenger, Instagram ----------------------------------------------------
    def _page_post(self, target: Target) -> tuple[str, str]:
        """One of the Page's three latest posts customers comment on: (post_id, permalink)."""
        number = self.rng.randrange(3)
        object_id = str(_stable_int("page-post", target.account_id, str(number), digits=15))
        page = target.handle.strip().lstrip("@") or target.account_id
        return (
            f"{target.account_id}_{object_id}",
            f"https://www.facebook.com/{page}/posts/{object_id}",
        )

    def _facebook(self, target: Target, draft: _Draft) -> tuple[SimPost, dict[str, Any]]:
        if draft.private:
            return self._messaging(target, draft, "page")
        ms, seq = self._tick()
        seconds = ms // 1000
        persona = draft.persona
        parent = draft.parent.data if draft.parent else None
        if parent:
            post_id, permalink = parent["post_id"], parent["permalink"]
        else:
            post_id, permalink = self._page_post(target)
        object_id = post_id.split("_", 1)[1]
        comment_id = f"{object_id}_{ms * 1000 + seq % 1000}"
        value = {
            "from": {"id": persona.user_id("facebook"), "name": persona.name},
            "post": {
                "status_type": "added_photos",
                "is_published": True,
                "updated_time": dt.datetime.fromtimestamp(seconds, dt.UTC).strftime(
                    "%Y-%m-%dT%H:%M:%S+0000"
                ),
                "permalink_url": permalink,
                "promotion_status": "inactive",
                "id": post_id,
            },
            "message": draft.text,
            "post_id": post_id,
            "comment_id": comment_id,
            "created_time": seconds,
            "item": "comment",
            "parent_id": parent["top_id"] if parent else post_id,
            "verb": "add",
        }
        payload = {
            "object": "page",
            "entry": [
                {
                    "id": target.account_id,
                    "time": seconds,
                    "changes": [{"value": value, "field": "feed"}],
                }
            ],
        }
        post = self._post(
            target, draft, kind="comment", text=draft.text, external_id=comment_id,
            **self._signed_meta(target, payload),
        )  # fmt: skip
        top = parent["top_id"] if parent else comment_id  # comment threads are two levels deep
        return post, {"top_id": top, "post_id": post_id, "permalink": permalink}

    def _instagram(self, target: Target, draft: _Draft) -> tuple[SimPost, dict[str, Any]]:
        if draft.private:
            return self._messaging(target, draft, "instagram")
        ms, seq = self._tick()
        persona = draft.persona
        parent = draft.parent.data if draft.parent else None
        if parent:
            media_id = parent["media_id"]
        else:
            media_id = str(
                _stable_int("ig-media", target.account_id, str(self.rng.randrange(3)), digits=17)
            )
        comment_id = f"178{(ms * 100 + seq % 100) % 10**14:014d}"
        value: dict[str, Any] = {
            "from": {
                "id": persona.user_id("instagram"),
                "username": persona.handle_on("instagram"),
            },
            "media": {"id": media_id, "media_product_type": "FEED"},
            "id": comment_id,
            "text": draft.text,
        }
        if parent:  # Instagram threads are one level deep: a reply names the top-level comment
            value["parent_id"] = parent["top_id"]
        payload = {
            "object": "instagram",
            "entry": [
                {
                    "id": target.account_id,
                    "time": ms // 1000,
                    "changes": [{"field": "comments", "value": value}],
                }
            ],
        }
        post = self._post(
            target, draft, kind="comment", text=draft.text, external_id=comment_id,
            **self._signed_meta(target, payload),
        )  # fmt: skip
        top = parent["top_id"] if parent else comment_id
        return post, {"comment_id": comment_id, "top_id": top, "media_id": media_id}

    def _messaging(
        self, target: Target, draft: _Draft, kind: str
    ) -> tuple[SimPost, dict[str, Any]]:
        """A Messenger (``object: page``) or Instagram Direct (``object: instagram``) message."""
        ms, seq = self._tick()
        persona = draft.persona
        platform = "facebook" if kind == "page" else "instagram"
        if kind == "page":
            digest = hashlib.sha256(f"{target.account_id}:{ms}:{seq}".encode()).digest()
            mid = "m_" + base64.urlsafe_b64encode(digest).decode("ascii").rstrip("=")
        else:
            raw = f"ig_message_item:1:IGMessageThread:{target.account_id}:{ms}{seq:04d}"
            mid = base64.b64encode(raw.encode()).decode("ascii").rstrip("=")
        message: dict[str, Any] = {"mid": mid, "text": draft.text}
        if draft.parent and draft.parent.private and self.rng.random() < 0.5:
            message["reply_to"] = {"mid": draft.parent.data["mid"]}
        if kind == "page" and draft.category == "private" and self.rng.random() < 0.15:
            message["attachments"] = [
                {
                    "type": "image",
                    "payload": {
                        "url": f"https://scontent.xx.fbcdn.net/v/t1.15752-9/{mid[2:14]}.jpg"
                    },
                }
            ]
        payload = {
            "object": kind,
            "entry": [{
                "id": target.account_id,
                "time": ms,
                "messaging": [{
                    "sender": {"id": persona.user_id(platform)},
                    "recipient": {"id": target.account_id},
                    "timestamp": ms,
                    "message": message,
                }],
            }],
        }  # fmt: skip
        post = self._post(
            target, draft, kind="direct_message", text=draft.text, external_id=mid,
            **self._signed_meta(target, payload),
        )  # fmt: skip
        return post, {"mid": mid}

    def _signed_meta(self, target: Target, payload: Mapping[str, Any]) -> dict[str, Any]:
        # Meta sends ASCII JSON: non-ASCII as \\uXXXX escapes, emoji as surrogate pairs.
        body = json.dumps(payload, ensure_ascii=True, separators=(",", ":")).encode("ascii")
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "facebookexternalua",
            "X-Hub-Signature": _meta_sha1(body, target.secret),
            META_SIGNATURE_HEADER: meta_signature(body, target.secret),
        }
        return {"body": body, "headers": headers}

    # Mastodon: notifications -------------------------------------------------------------------------
    def _mastodon_account(self, target: Target, persona: Persona) -> dict[str, Any]:
        username = persona.handle_on("mastodon")
        server = persona.server or target.home
        url = f"https://{server}/@{username}"
        return {
            "id": persona.user_id("mastodon"),
            "username": username,
            "acct": username if server == target.home else f"{username}@{server}",
            "display_name": persona.name,
            "locked": False,
            "bot": False,
            "discoverable": True,
            "group": False,
            "created_at": "2022-11-07T00:00:00.000Z",
            "note": "",
            "url": url,
            "uri": f"https://{server}/users/{username}",
            "avatar": f"https://{server}/avatars/original/missing.png",
            "avatar_static": f"https://{server}/avatars/original/missing.png",
            "header": f"https://{server}/headers/original/missing.png",
            "header_static": f"https://{server}/headers/original/missing.png",
            "followers_count": persona.followers,
            "following_count": _stable_int("following", persona.key, digits=3) % 700,
            "statuses_count": _stable_int("statuses", persona.key, digits=4),
            "last_status_at": None,
            "emojis": [],
            "fields": [],
        }

    def _mastodon(self, target: Target, draft: _Draft) -> tuple[SimPost, dict[str, Any]]:
        ms, seq = self._tick()
        notification_id = str((ms << 16) | (2 * seq % 65536))
        local_id = str((ms << 16) | ((2 * seq + 1) % 65536))
        persona = draft.persona
        account = self._mastodon_account(target, persona)
        server = persona.server or target.home
        username = account["username"]
        remote_id = (
            local_id
            if server == target.home
            else str(_stable_int("status", server, local_id, digits=18))
        )
        brand = target.brand_handle
        brand_url = f"https://{target.home}/@{brand}"
        parent = draft.parent.data if draft.parent else None

        mentions_html = [_h_card(brand_url, brand)]
        mentions = [{"id": target.account_id, "username": brand, "url": brand_url, "acct": brand}]
        if parent and parent["account_id"] != account["id"]:
            mentions_html.insert(0, _h_card(parent["url"], parent["username"]))
            mentions.insert(0, {"id": parent["account_id"], "username": parent["username"],
                                "url": parent["url"], "acct": parent["acct"]})  # fmt: skip
        body_html = _mastodon_html(draft.text, server)
        content = "<p>" + " ".join(mentions_html) + " " + body_html + "</p>"
        created = _iso_ms(ms - 150)
        status = {
            "id": local_id,
            "created_at": created,
            "in_reply_to_id": parent["local_id"] if parent else None,
            "in_reply_to_account_id": parent["account_id"] if parent else None,
            "sensitive": False,
            "spoiler_text": "",
            "visibility": "direct" if draft.private else "public",
            "language": persona.lang,
            "uri": f"https://{server}/users/{username}/statuses/{remote_id}",
            "url": f"https://{server}/@{username}/{remote_id}",
            "replies_count": 0,
            "reblogs_count": 0,
            "favourites_count": 0,
            "edited_at": None,
            "content": content,
            "reblog": None,
            "application": {"name": "Web", "website": None} if server == target.home else None,
            "account": account,
            "media_attachments": [],
            "mentions": mentions,
            "tags": [
                {"name": t.lower(), "url": f"https://{server}/tags/{t.lower()}"}
                for t in _HASHTAG.findall(draft.text)
            ],
            "emojis": [],
            "card": None,
            "poll": None,
        }
        item = {
            "id": notification_id,
            "type": "mention",
            "created_at": _iso_ms(ms),
            "account": account,
            "status": status,
        }
        kind = "direct_message" if draft.private else ("reply" if parent else "mention")
        post = self._post(
            target,
            draft,
            kind=kind,
            text=" ".join(f"@{m['username']}" for m in mentions) + " " + draft.text,
            external_id=status["uri"],
            item=item,
        )
        data = {"local_id": local_id, "account_id": account["id"], "username": username,
                "acct": account["acct"], "url": account["url"]}  # fmt: skip
        return post, data

    # Bluesky: notifications with profiles ----------------------------------------------------------------
    def _bluesky(self, target: Target, draft: _Draft) -> tuple[SimPost, dict[str, Any]]:
        ms, seq = self._tick()
        persona = draft.persona
        did, handle = persona.user_id("bluesky"), persona.handle_on("bluesky")
        tid = _tid(ms * 1000 + seq % 1000, _stable_int("clock", persona.key, digits=4) % 1024)
        uri = f"at://{did}/app.bsky.feed.post/{tid}"
        cid = "bafyrei" + _b32(hashlib.sha256(uri.encode()).digest())[:52]
        brand = target.brand_handle
        parent = draft.parent.data if draft.parent else None
        mention_names = []
        if parent and parent["did"] != did:
            mention_names.append((parent["handle"], parent["did"]))
        mention_names.append((brand, target.account_id))
        text = "".join(f"@{name} " for name, _ in mention_names) + draft.text
        facets = []
        for name, mention_did in mention_names:
            start = text.index(f"@{name}")
            facets.append({
                "index": _byte_span(text, start, start + len(name) + 1),
                "features": [{"$type": "app.bsky.richtext.facet#mention", "did": mention_did}],
            })  # fmt: skip
        for match in _HASHTAG.finditer(text):
            facets.append({
                "index": _byte_span(text, match.start(), match.end()),
                "features": [{"$type": "app.bsky.richtext.facet#tag", "tag": match.group(1)}],
            })  # fmt: skip
        record: dict[str, Any] = {
            "$type": "app.bsky.feed.post",
            "text": text,
            "createdAt": _iso_ms(ms - 300, micro=True),
            "facets": facets,
            "langs": [persona.lang],
        }
        if parent:
            record["reply"] = {
                "root": {"uri": parent["root_uri"], "cid": parent["root_cid"]},
                "parent": {"uri": parent["uri"], "cid": parent["cid"]},
            }
        avatar = f"https://cdn.bsky.app/img/avatar/plain/{did}/{cid[-20:]}@jpeg"
        author = {"did": did, "handle": handle, "displayName": persona.name, "avatar": avatar,
                  "labels": [], "createdAt": "2023-05-01T12:00:00.000Z"}  # fmt: skip
        item = {
            "uri": uri,
            "cid": cid,
            "author": author,
            "reason": "mention",  # a mention of the brand (also in a thread: a reply to a customer)
            "record": record,
            "isRead": False,
            "indexedAt": _iso_ms(ms),  # replaced by the fake API when it is published
            "labels": [],
        }
        profile = {
            **{k: v for k, v in author.items() if k != "labels"},
            "description": "",
            "followersCount": persona.followers,
            "followsCount": _stable_int("follows", persona.key, digits=3) % 800,
            "postsCount": _stable_int("posts", persona.key, digits=4),
            "indexedAt": "2024-01-01T00:00:00.000Z",
            "labels": [],
        }
        post = self._post(
            target, draft, kind="mention", text=text, external_id=uri, item=item, profile=profile
        )
        root_uri, root_cid = (parent["root_uri"], parent["root_cid"]) if parent else (uri, cid)
        data = {
            "uri": uri,
            "cid": cid,
            "did": did,
            "handle": handle,
            "root_uri": root_uri,
            "root_cid": root_cid,
        }
        return post, data


def _x_time(when: dt.datetime) -> str:
    """``Sat Nov 28 05:30:03 +0000 2020``, independent of the locale."""
    days = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
    months = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
    when = when.astimezone(dt.UTC)
    return f"{days[when.weekday()]} {months[when.month - 1]} {when.day:02d} {when:%H:%M:%S} +0000 {when.year}"


def _iso_ms(ms: int, *, micro: bool = False) -> str:
    when = dt.datetime.fromtimestamp(ms / 1000, dt.UTC)
    return when.isoformat(timespec="microseconds" if micro else "milliseconds").replace(
        "+00:00", "Z"
    )


def _hashtags(text: str) -> list[dict[str, Any]]:
    return [{"text": m.group(1), "indices": [m.start(), m.end()]} for m in _HASHTAG.finditer(text)]


def _h_card(url: str, username: str) -> str:
    return (
        f'<span class="h-card" translate="no"><a href="{html.escape(url)}" class="u-url mention">'
        f"@<span>{html.escape(username)}</span></a></span>"
    )


def _mastodon_html(text: str, server: str) -> str:
    """Text as Mastodon renders it: entities as Mastodon writes them, hashtags linked."""
    parts, position = [], 0
    for match in _HASHTAG.finditer(text):
        parts.append(_mastodon_escape(text[position : match.start()]))
        tag = match.group(1)
        parts.append(
            f'<a href="https://{server}/tags/{html.escape(tag.lower())}" class="mention hashtag" '
            f'rel="tag">#<span>{html.escape(tag)}</span></a>'
        )
        position = match.end()
    parts.append(_mastodon_escape(text[position:]))
    return "<br />".join("".join(parts).split("\n"))


def _mastodon_escape(text: str) -> str:
    return html.escape(text, quote=False).replace('"', "&quot;").replace("'", "&#39;")


def _byte_span(text: str, start: int, end: int) -> dict[str, int]:
    return {"byteStart": len(text[:start].encode()), "byteEnd": len(text[:end].encode())}


def _tid(micros: int, clock_id: int) -> str:
    """An AT Protocol record key (TID): 13 base32-sortable characters."""
    alphabet = "234567abcdefghijklmnopqrstuvwxyz"
    value = (micros << 10) | clock_id
    chars = []
    for _ in range(13):
        value, digit = divmod(value, 32)
        chars.append(alphabet[digit])
    return "".join(reversed(chars))


# The fake API of polled platforms ------------------------------------------------------------------
@dataclass
class _FakeChannel:
    target: Target
    items: list[dict[str, Any]] = field(default_factory=list)  # oldest first
    profiles: dict[str, dict[str, Any]] = field(default_factory=dict)
    served: set[str] = field(default_factory=set)
    tokens: set[str] = field(default_factory=set)
    last_indexed_ms: int = 0


class FakePlatformAPI:
    """Mastodon's and Bluesky's APIs for the run, on ``127.0.0.1`` and a free port.

    Each polled channel gets a base URL of its own, ``<url>/socialcare-simulator/<platform>/<id>``,
    under which the endpoints the adapters call answer as the platforms do:

    * Mastodon ``GET /api/v1/notifications`` (bearer token = the channel's ``access_token``;
      ``types[]``, ``limit``, ``min_id``, ``since_id``, ``max_id``; newest first; ``Link`` header);
    * Bluesky ``POST /xrpc/com.atproto.server.createSession`` (identifier = handle or DID,
      password = ``access_token``), ``GET /xrpc/app.bsky.notification.listNotifications``
      (``limit``, ``reasons``, ``cursor``; newest first) and ``GET /xrpc/app.bsky.actor.getProfiles``.
    """

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        self.lock = threading.Lock()
        self.channels: dict[tuple[str, str], _FakeChannel] = {}
        self.requests = 0
        api = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                status, payload, extra = api._answer(self.command, self.path, self.headers, body)
                data = json.dumps(payload, ensure_ascii=False).encode("utf-8")
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json; charset=utf-8")
                    self.send_header("Content-Length", str(len(data)))
                    for name, value in extra.items():
                        self.send_header(name, value)
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            do_GET = do_POST = _handle

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True
        )

    def __enter__(self) -> FakePlatformAPI:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def base_url(self, target: Target) -> str:
        return f"{self.url}{FAKE_PREFIX}/{target.platform}/{target.channel_id}"

    def add(self, target: Target) -> str:
        """Serve ``target``'s notifications; returns the base URL to give its channel."""
        with self.lock:
            self.channels[(target.platform, str(target.channel_id))] = _FakeChannel(target)
        return self.base_url(target)

    def publish(self, post: SimPost) -> None:
        """Make ``post``'s notification visible to the next poll."""
        target = post.target
        item = dict(post.item or {})
        with self.lock:
            channel = self.channels[(target.platform, str(target.channel_id))]
            if target.platform == "bluesky":
                # indexedAt orders notifications and is the adapter's cursor: strictly increasing.
                ms = max(int(self.clock() * 1000), channel.last_indexed_ms + 1)
                channel.last_indexed_ms = ms
                item["indexedAt"] = _iso_ms(ms)
                if post.profile:
                    channel.profiles[post.profile["did"]] = dict(post.profile)
            channel.items.append(item)

    def pending(self) -> int:
        """Published notifications no poll has fetched yet."""
        with self.lock:
            return sum(len(c.items) - len(c.served) for c in self.channels.values())

    # Serving -----------------------------------------------------------------------------------
    def _answer(
        self, method: str, raw_path: str, headers: Mapping[str, str], body: bytes
    ) -> tuple[int, Any, dict[str, str]]:
        parts = urlsplit(raw_path)
        query = parse_qs(parts.query)
        segments = parts.path.split("/")
        # "", "socialcare-simulator", platform, channel id, rest...
        if len(segments) < 5 or "/" + segments[1] != FAKE_PREFIX:
            return 404, {"error": "Not found"}, {}
        key = (segments[2], segments[3])
        rest = "/" + "/".join(segments[4:])
        with self.lock:
            self.requests += 1
            channel = self.channels.get(key)
            if channel is None:
                return 404, {"error": "Not found"}, {}
            if key[0] == "mastodon":
                return self._mastodon(channel, method, rest, query, headers)
            return self._bluesky(channel, method, rest, query, headers, body)

    def _mastodon(
        self,
        channel: _FakeChannel,
        method: str,
        path: str,
        query: dict[str, list[str]],
        headers: Mapping[str, str],
    ) -> tuple[int, Any, dict[str, str]]:
        if (method, path) != ("GET", "/api/v1/notifications"):
            return 404, {"error": "Record not found"}, {}
        if headers.get("Authorization") != f"Bearer {channel.target.access_token}":
            return 401, {"error": "The access token is invalid"}, {}
        try:
            limit = max(1, min(80, int((query.get("limit") or ["40"])[0])))
        except ValueError:
            return 422, {"error": "limit must be a number"}, {}
        types = set(query.get("types[]") or [])
        items = [i for i in channel.items if not types or i["type"] in types]  # oldest first

        def newer(bound: str) -> list[dict[str, Any]]:
            return [i for i in items if _mastodon_key(i["id"]) > _mastodon_key(bound)]

        if query.get("min_id"):  # the page immediately newer than min_id
            page = newer(query["min_id"][0])[:limit]
        elif query.get("since_id"):  # the newest page, but nothing older than since_id
            page = newer(query["since_id"][0])[-limit:]
        elif query.get("max_id"):
            bound = _mastodon_key(query["max_id"][0])
            page = [i for i in items if _mastodon_key(i["id"]) < bound][-limit:]
        else:
            page = items[-limit:]
        page = list(reversed(page))  # newest first
        channel.served.update(_item_key(item) for item in page)
        extra = {}
        if page:
            base = self.base_url(channel.target) + "/api/v1/notifications?"
            newest, oldest = page[0]["id"], page[-1]["id"]
            extra["Link"] = (
                f'<{base}{urlencode({"types[]": "mention", "max_id": oldest})}>; rel="next", '
                f'<{base}{urlencode({"types[]": "mention", "min_id": newest})}>; rel="prev"'
            )
        return 200, page, extra

    def _bluesky(
        self,
        channel: _FakeChannel,
        method: str,
        path: str,
        query: dict[str, list[str]],
        headers: Mapping[str, str],
        body: bytes,
    ) -> tuple[int, Any, dict[str, str]]:
        target = channel.target
        if (method, path) == ("POST", "/xrpc/com.atproto.server.createSession"):
            try:
                login = json.loads(body or b"{}")
            except ValueError:
                return 400, {"error": "InvalidRequest", "message": "Body is not JSON"}, {}
            identifiers = {target.brand_handle, target.account_id}
            if (
                login.get("identifier") not in identifiers
                or login.get("password") != target.access_token
            ):
                return (
                    401,
                    {
                        "error": "AuthenticationRequired",
                        "message": "Invalid identifier or password",
                    },
                    {},
                )
            token = (
                "sim-"
                + hashlib.sha256(f"{target.channel_id}:{len(channel.tokens)}".encode()).hexdigest()[
                    :32
                ]
            )
            channel.tokens.add(token)
            session = {
                "did": target.account_id,
                "handle": target.brand_handle,
                "accessJwt": token,
                "refreshJwt": token + "-refresh",
                "active": True,
            }
            return 200, session, {}
        auth = headers.get("Authorization", "")
        if not auth.startswith("Bearer ") or auth[7:] not in channel.tokens:
            return (
                401,
                {"error": "AuthenticationRequired", "message": "Authentication Required"},
                {},
            )
        if (method, path) == ("GET", "/xrpc/app.bsky.notification.listNotifications"):
            try:
                limit = max(1, min(100, int((query.get("limit") or ["50"])[0])))
            except ValueError:
                return 400, {"error": "InvalidRequest", "message": "limit must be an integer"}, {}
            reasons = set(query.get("reasons") or [])
            items = [i for i in reversed(channel.items) if not reasons or i["reason"] in reasons]
            cursor = (query.get("cursor") or [""])[0]
            if cursor:  # older than the cursor (the last indexedAt of the previous page)
                items = [i for i in items if i["indexedAt"] < cursor]
            page = items[:limit]
            channel.served.update(_item_key(item) for item in page)
            answer: dict[str, Any] = {"notifications": page, "priority": False}
            if page:
                answer["cursor"] = page[-1]["indexedAt"]
                answer["seenAt"] = page[-1]["indexedAt"]
            return 200, answer, {}
        if (method, path) == ("GET", "/xrpc/app.bsky.actor.getProfiles"):
            actors = query.get("actors") or []
            if not actors or len(actors) > 25:
                return 400, {"error": "InvalidRequest", "message": "actors: 1 to 25 items"}, {}
            profiles = [channel.profiles[a] for a in actors if a in channel.profiles]
            return 200, {"profiles": profiles}, {}
        return 501, {"error": "MethodNotImplemented", "message": "Method Not Implemented"}, {}


def _mastodon_key(value: str) -> tuple[int, str]:
    return (len(value), value)


def _item_key(item: Mapping[str, Any]) -> str:
    return str(item.get("id") or item.get("uri"))


# Running against a server ----------------------------------------------------------------------------
@dataclass(frozen=True)
class Options:
    url: str = "http://127.0.0.1:8000"
    rate: float = 2.0  # deliveries per second; 0: as fast as the senders go
    count: int | None = 60  # posts of the normal stream; None: until ``duration``
    duration: float | None = None  # seconds; None: until ``count``
    concurrency: int = 2
    spike: int = 0
    spike_topic: str = "checkout"
    poll_interval: float = 2.0
    timeout: float = 10.0
    seed: int = 0
    #: Seconds to wait at the end for the server's worker to turn accepted deliveries into posts.
    settle: float = 15.0


@dataclass
class Stats:
    """What happened, updated by the sender threads and the main thread (under ``lock``)."""

    started: float = field(default_factory=time.monotonic)
    ended: float | None = None
    generated: int = 0
    by_platform: Counter = field(default_factory=Counter)
    private: int = 0
    threads: int = 0
    spike: int = 0
    sent: int = 0
    accepted: int = 0
    refused: int = 0
    errors: int = 0
    errors_in_a_row: int = 0
    first_refusal: str = ""
    first_error: str = ""
    refusals: Counter = field(default_factory=Counter)
    latencies: list[float] = field(default_factory=list)
    queued_for_polling: int = 0
    polls: int = 0
    poll_errors: int = 0
    first_poll_error: str = ""
    polled_posts: int = 0
    webhook_posts_stored: int | None = None
    interrupted: bool = False
    stopped_early: str = ""
    accepted_ids: dict[str, list[str]] = field(default_factory=dict)
    polled_ids: dict[str, list[str]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def elapsed(self) -> float:
        return (self.ended or time.monotonic()) - self.started

    @property
    def failed(self) -> bool:
        return bool(self.refused or self.errors or self.poll_errors)


class Run:
    """One simulation: probe the server, point polled channels at the fake API, send, poll, count.

    ``progress(stats)`` is called from the main thread a few times a second; ``event(post, outcome)``
    from the sender threads after each delivery (and from the main thread for polled posts).
    """

    def __init__(
        self,
        targets: Sequence[Target],
        options: Options,
        *,
        progress: Callable[[Stats], None] | None = None,
        event: Callable[[SimPost, str], None] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.targets = list(targets)
        self.options = options
        self.progress = progress or (lambda stats: None)
        self.event = event or (lambda post, outcome: None)
        self.simulator = Simulator(self.targets, seed=options.seed, clock=clock)
        self.stats = Stats()
        self.webhook_targets = [t for t in self.targets if not t.polled]
        self.polled_targets = [t for t in self.targets if t.polled]
        self.base = options.url.rstrip("/")
        local = urlsplit(self.base).hostname in ("127.0.0.1", "localhost", "::1")
        self.client = httpx.Client(
            timeout=options.timeout,
            limits=httpx.Limits(max_connections=max(1, options.concurrency)),
            headers={"User-Agent": USER_AGENT},
            trust_env=not local,  # never send local traffic through a proxy from the environment
        )
        self.clock = clock
        self.api: FakePlatformAPI | None = None
        self.urls = {t.channel_id: self.webhook_url(t) for t in self.webhook_targets}
        self._slots = threading.BoundedSemaphore(max(1, options.concurrency) * 2)
        self._flight = threading.Lock()
        self._in_flight = 0

    # Probing -------------------------------------------------------------------------------------
    def webhook_url(self, target: Target) -> str:
        return self.base + webhook_path(target.platform, target.channel_id)

    def probe(self) -> list[str]:
        """Check that the server answers and knows every webhook channel (with the platforms'
        verification GET). Raises ``SimulatorError`` when it cannot be reached at all or does not
        know a channel; returns warnings (a CRC answer that does not match our secret)."""
        warnings = []
        for target in self.webhook_targets:
            url = self.urls[target.channel_id]
            if target.platform == "x":
                params = {"crc_token": "socialcare-simulator"}
            else:
                params = {"hub.mode": "subscribe", "hub.verify_token": target.verify_token,
                          "hub.challenge": "socialcare-simulator"}  # fmt: skip
            try:
                response = self.client.get(url, params=params)
            except httpx.HTTPError as exc:
                raise SimulatorError(
                    f"Cannot reach the server at {self.base} ({_error_text(exc)}). Start it first "
                    "(python manage.py socialcare_demo, or runserver + qcluster), or pass --url."
                ) from None
            if response.status_code == 404:
                raise SimulatorError(
                    f"The server at {self.base} answered 404 for {target} at {url}: "
                    f"{response.text[:300]}. Is it running on this database and with socialcare's "
                    "URLs under /socialcare/?"
                )
            if target.platform == "x" and response.status_code == 200:
                token = (response.json() or {}).get("response_token", "")
                digest = hmac.new(
                    target.secret.encode(), b"socialcare-simulator", hashlib.sha256
                ).digest()
                if token != "sha256=" + base64.b64encode(digest).decode():
                    warnings.append(
                        f"{target}: the server's CRC answer does not match this channel's secret."
                    )
        return warnings

    # Running -------------------------------------------------------------------------------------
    def execute(self) -> Stats:
        """Run until the count or duration is reached (or Ctrl-C), then report."""
        stats = self.stats
        try:
            fake = FakePlatformAPI(self.clock) if self.polled_targets else nullcontext()
            with fake as api:
                self.api = api
                with self._pointed_at_fake_api():
                    executor = ThreadPoolExecutor(
                        max_workers=max(1, self.options.concurrency),
                        thread_name_prefix="socialcare-simulate",
                    )
                    self._executor = executor
                    try:
                        self._loop()
                        self._drain()
                    except KeyboardInterrupt:
                        stats.interrupted = True
                    finally:
                        # Deliveries in flight end within --timeout; queued ones are dropped.
                        executor.shutdown(wait=True, cancel_futures=True)
        finally:
            stats.ended = time.monotonic()
            self.client.close()
        try:
            self._count_stored(wait=0 if stats.interrupted else self.options.settle)
        except KeyboardInterrupt:
            stats.interrupted = True
        return stats

    def _loop(self) -> None:
        options, stats = self.options, self.stats
        interval = 1.0 / options.rate if options.rate > 0 else 0.0
        deadline = stats.started + options.duration if options.duration else None
        spike_after = None
        if options.spike:
            spike_after = (options.count // 3) if options.count is not None else None
        spike_at = (
            stats.started + options.duration / 3 if options.spike and options.duration else None
        )
        self._next_poll = time.monotonic()
        self._next_progress = 0.0
        index, due, spiked = 0, time.monotonic(), not options.spike
        while True:
            now = time.monotonic()
            if not spiked and (
                (spike_after is not None and index >= spike_after)
                or (spike_at is not None and now >= spike_at)
            ):
                spiked = True
                for post in self.simulator.spike(options.spike, options.spike_topic):
                    self._dispatch(post)
            if (options.count is not None and index >= options.count) or (
                deadline and now >= deadline
            ):
                break
            if self._server_gone():
                break
            while (now := time.monotonic()) < due:
                self._tick(now)
                time.sleep(min(due - now, 0.05))
                if deadline and time.monotonic() >= deadline:
                    break
            if deadline and time.monotonic() >= deadline:
                break
            self._dispatch(self.simulator.next_post())
            index += 1
            # On schedule; a slow server is not answered with a burst that catches up.
            due = max(due + interval, time.monotonic() - 1.0) if interval else 0.0
            self._tick(time.monotonic())

    def _server_gone(self) -> bool:
        limit = max(10, 3 * self.options.concurrency)
        with self.stats.lock:
            if self.stats.errors_in_a_row >= limit:
                self.stats.stopped_early = (
                    f"stopped after {self.stats.errors_in_a_row} connection errors in a row: "
                    "the server stopped answering"
                )
                return True
        return False

    def _tick(self, now: float) -> None:
        if self.polled_targets and (now >= self._next_poll or self.api.pending() >= 200):
            self._poll()
            self._next_poll = time.monotonic() + self.options.poll_interval
        if now >= self._next_progress:
            self.progress(self.stats)
            self._next_progress = now + 0.2

    def _dispatch(self, post: SimPost) -> None:
        stats = self.stats
        with stats.lock:
            stats.generated += 1
            stats.by_platform[post.target.platform] += 1
            stats.private += post.visibility == "private"
            stats.threads += post.thread
            stats.spike += post.spike
        if post.target.polled:
            assert self.api is not None
            self.api.publish(post)
            with stats.lock:
                stats.queued_for_polling += 1
                stats.polled_ids.setdefault(post.target.platform, []).append(post.external_id)
            self.event(post, "queued for the next poll")
            return
        while not self._slots.acquire(timeout=0.05):  # keep polling while the senders are busy
            self._tick(time.monotonic())
        with self._flight:
            self._in_flight += 1
        future = self._executor.submit(self._send, post)
        future.add_done_callback(self._landed)

    def _landed(self, future: Future) -> None:
        with self._flight:
            self._in_flight -= 1
        self._slots.release()

    def _send(self, post: SimPost) -> None:
        stats = self.stats
        url = self.urls[post.target.channel_id]
        with stats.lock:
            stats.sent += 1
        start = time.perf_counter()
        try:
            response = self.client.post(url, content=post.body, headers=dict(post.headers))
        except httpx.HTTPError as exc:
            with stats.lock:
                stats.errors += 1
                stats.errors_in_a_row += 1
                stats.first_error = stats.first_error or f"{post.target}: {_error_text(exc)}"
            self.event(post, f"connection error: {_error_text(exc)}")
            return
        latency = time.perf_counter() - start
        with stats.lock:
            stats.errors_in_a_row = 0
            stats.latencies.append(latency)
            if 200 <= response.status_code < 300:
                stats.accepted += 1
                stats.accepted_ids.setdefault(post.target.platform, []).append(post.external_id)
            else:
                stats.refused += 1
                stats.refusals[response.status_code] += 1
                stats.first_refusal = stats.first_refusal or (
                    f"HTTP {response.status_code} from {post.target}: {response.text[:300]}"
                )
        self.event(post, f"HTTP {response.status_code}")

    def _poll(self) -> None:
        from socialcare.models import Channel
        from socialcare.services.polling import poll_channel

        for target in self.polled_targets:
            channel = Channel.objects.filter(pk=target.channel_id).first()
            if channel is None:
                continue
            outcome = poll_channel(channel, client=self.poll_client)
            with self.stats.lock:
                self.stats.polls += 1
                self.stats.polled_posts += outcome.posts
                if outcome.error:
                    self.stats.poll_errors += 1
                    self.stats.first_poll_error = (
                        self.stats.first_poll_error or f"{target}: {outcome.error}"
                    )

    def _drain(self) -> None:
        """Wait for the deliveries in flight, then poll until the fake API has served everything."""
        while True:
            with self._flight:
                if not self._in_flight:
                    break
            self._tick(time.monotonic())
            time.sleep(0.02)
        if self.polled_targets:
            for _ in range(5):
                self._poll()
                if not self.api.pending():
                    break
        self.progress(self.stats)

    @contextmanager
    def _pointed_at_fake_api(self) -> Iterator[None]:
        """Polled channels poll the fake API during the run; their base URL and cursor are put
        back afterwards, whatever happens (also on Ctrl-C)."""
        if not self.polled_targets:
            yield
            return
        from socialcare.models import Channel

        self.poll_client = httpx.Client(timeout=self.options.timeout, trust_env=False)
        saved: dict[int, tuple[str, str]] = {}
        start = _iso_ms(int(self.clock() * 1000) - 1)
        try:
            for target in self.polled_targets:
                channel = Channel.objects.get(pk=target.channel_id)
                saved[target.channel_id] = (channel.base_url, channel.poll_cursor)
                # A cursor before any simulated notification: everything the fake serves is new
                # (Mastodon: any id is newer than "0"; Bluesky: the newest indexedAt seen).
                cursor = "0" if target.platform == "mastodon" else start
                Channel.objects.filter(pk=target.channel_id).update(
                    base_url=self.api.add(target), poll_cursor=cursor
                )
            yield
        finally:
            for channel_id, (base_url, cursor) in saved.items():
                Channel.objects.filter(pk=channel_id).update(base_url=base_url, poll_cursor=cursor)
            self.poll_client.close()

    def _count_stored(self, *, wait: float) -> None:
        """How many simulated posts are on cases now. Polled ones are (this process ingested
        them); accepted webhook deliveries are once the server's worker has processed them, so
        wait up to ``wait`` seconds for it while it makes progress."""
        from socialcare.models import Post

        def stored(ids: dict[str, list[str]]) -> int:
            total = 0
            for platform, external_ids in ids.items():
                for start in range(0, len(external_ids), 500):
                    chunk = external_ids[start : start + 500]
                    total += Post.objects.filter(platform=platform, external_id__in=chunk).count()
            return total

        stats = self.stats
        stats.polled_posts = stored(stats.polled_ids)
        if not stats.accepted_ids:
            return
        deadline = time.monotonic() + wait
        last, changed_at = -1, time.monotonic()
        while True:
            count = stored(stats.accepted_ids)
            now = time.monotonic()
            if count != last:
                last, changed_at = count, now
            if count >= stats.accepted or now >= deadline or now - changed_at >= STALL_SECONDS:
                break
            time.sleep(0.25)
        stats.webhook_posts_stored = count


def webhook_path(platform: str, channel_id: int | str) -> str:
    """The webhook endpoint's path in this project's URLconf (the usual one if not mounted)."""
    from django.urls import NoReverseMatch, reverse

    try:
        return reverse(
            "socialcare:webhook", kwargs={"platform": platform, "channel_id": channel_id}
        )
    except NoReverseMatch:
        return f"/socialcare/webhooks/{platform}/{channel_id}/"


def _error_text(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return f"{type(exc).__name__}: {text}" if text != type(exc).__name__ else text


# Choosing channels -------------------------------------------------------------------------------
def load_targets(
    platforms: Sequence[str] = (), *, polled: bool = True
) -> tuple[list[Target], list[str]]:
    """The active channels to simulate for, and notes on the ones skipped."""
    from socialcare.models import Channel

    targets, notes = [], []
    for channel in Channel.objects.active().order_by("pk"):
        if channel.platform not in SIMULATED_PLATFORMS or (
            platforms and channel.platform not in platforms
        ):
            continue
        label = f"{channel.name} ({channel.platform} #{channel.pk})"
        target = Target(
            channel_id=channel.pk,
            name=channel.name,
            platform=channel.platform,
            account_id=channel.account_id,
            handle=channel.handle,
            secret=channel.get_secret("webhook_secret"),
            verify_token=channel.get_secret("verify_token"),
            access_token=channel.get_secret("access_token"),
            home=urlsplit(channel.base_url).hostname or "mastodon.social",
        )
        if target.polled:
            if not polled:
                continue
            if not target.access_token:
                notes.append(f"skipped {label}: no access_token secret, its polls would fail")
                continue
            if FAKE_PREFIX in channel.base_url:
                notes.append(
                    f"{label}: its base URL {channel.base_url} was left by a simulator run that was "
                    "killed; set the real one again in the admin"
                )
        elif not target.secret:
            notes.append(f"skipped {label}: no webhook_secret to sign deliveries with")
            continue
        targets.append(target)
    return targets, notes


# Output -----------------------------------------------------------------------------------------
class ProgressLine:
    """A one-line progress bar on a terminal (redrawn with ``\\r``), a line every few seconds
    elsewhere (logs, CI). ``write`` gets the text to print as it is (no newline added)."""

    def __init__(
        self, write: Callable[[str], None], *, tty: bool, width: int = 24, every: float = 5.0
    ) -> None:
        self.write = write
        self.tty = tty
        self.width = width
        self.every = every
        self._last = 0.0
        self._drawn = False

    def __call__(self, stats: Stats, options: Options) -> None:
        now = time.monotonic()
        if now - self._last < (0.1 if self.tty else self.every):
            return
        self._last = now
        line = self.render(stats, options)
        if self.tty:
            self.write("\r" + line + "\x1b[K")
            self._drawn = True
        else:
            self.write(line + "\n")

    def render(self, stats: Stats, options: Options) -> str:
        with stats.lock:
            if options.count is not None:
                total = options.count + options.spike
                fraction = stats.generated / total if total else 1.0
                done = f"{stats.generated}/{total}"
            else:
                fraction = stats.elapsed / options.duration if options.duration else 0.0
                done = f"{stats.generated}"
            filled = int(min(1.0, max(0.0, fraction)) * self.width)
            bar = "#" * filled + "-" * (self.width - filled)
            parts = [f"[{bar}] {done} posts", f"sent {stats.sent}", f"ok {stats.accepted}"]
            if stats.refused:
                parts.append(f"refused {stats.refused}")
            if stats.errors:
                parts.append(f"errors {stats.errors}")
            if stats.queued_for_polling:
                parts.append(f"polled {stats.polled_posts}/{stats.queued_for_polling}")
            parts.append(f"{stats.elapsed:.1f} s")
        return " · ".join(parts)

    def finish(self) -> None:
        if self.tty and self._drawn:
            self.write("\n")


def summary(stats: Stats, options: Options, targets: Sequence[Target]) -> list[str]:
    """The closing report, one string per line."""
    elapsed = max(stats.elapsed, 1e-6)
    how = "interrupted after" if stats.interrupted else "in"
    lines = [
        f"Simulated {stats.generated} posts {how} {elapsed:.1f} s on {len(targets)} channel(s) "
        f"(seed {options.seed})."
    ]
    if stats.sent or any(not t.polled for t in targets):
        statuses = ", ".join(f"HTTP {code} ×{n}" for code, n in sorted(stats.refusals.items()))
        lines.append(
            f"  webhooks: {stats.sent} sent · {stats.accepted} accepted (2xx) · "
            f"{stats.refused} refused{f' ({statuses})' if statuses else ''} · "
            f"{stats.errors} connection errors"
        )
        if stats.latencies:
            ordered = sorted(stats.latencies)
            p50 = statistics.median(ordered)
            p95 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))]
            lines.append(
                f"            {stats.sent / elapsed:.1f} deliveries/s · latency p50 {p50 * 1000:.0f} ms"
                f" · p95 {p95 * 1000:.0f} ms · max {ordered[-1] * 1000:.0f} ms"
            )
        if stats.webhook_posts_stored is not None:
            waiting = ""
            if not stats.webhook_posts_stored:
                waiting = (
                    " (none processed yet: is the worker, `manage.py qcluster`, running on "
                    "this database?)"
                )
            elif stats.webhook_posts_stored < stats.accepted:
                waiting = " (the worker is still processing the rest)"
            lines.append(
                f"            {stats.webhook_posts_stored} of {stats.accepted} accepted posts are on "
                f"cases now{waiting}"
            )
    if stats.queued_for_polling or any(t.polled for t in targets):
        per = ", ".join(f"{p} {len(ids)}" for p, ids in sorted(stats.polled_ids.items()))
        lines.append(
            f"  polled:   {stats.polled_posts} posts of {stats.queued_for_polling} notifications"
            f"{f' ({per})' if per else ''} · {stats.polls} polls · {stats.poll_errors} poll errors"
        )
    mix = " · ".join(f"{p} {n}" for p, n in sorted(stats.by_platform.items()))
    regular = stats.generated - stats.spike  # the spike is public only
    share = f"{100 * stats.private / regular:.0f} %" if regular else "0 %"
    lines.append(f"  posts:    {mix or 'none'}")
    lines.append(
        f"            {stats.private} private ({share}) · {stats.threads} in threads"
        + (
            f" · spike: {stats.spike} negative posts about {options.spike_topic!r}"
            if options.spike
            else ""
        )
    )
    if stats.first_refusal:
        lines.append(f"  first refusal: {stats.first_refusal}")
    if stats.first_error:
        lines.append(f"  first connection error: {stats.first_error}")
    if stats.first_poll_error:
        lines.append(f"  first poll error: {stats.first_poll_error}")
    if stats.stopped_early:
        lines.append(f"  {stats.stopped_early}")
    return lines


def dry_run(targets: Sequence[Target], *, seed: int, url: str) -> Iterator[str]:
    """One sample payload per platform, as it would be sent (or served, for polled platforms)."""
    by_platform: dict[str, Target] = {}
    for target in targets:
        by_platform.setdefault(target.platform, target)
    simulator = Simulator(list(by_platform.values()), seed=seed)
    for platform, target in by_platform.items():
        post = simulator.sample(target)
        yield f"# {platform}: {post.describe()} for {target}"
        if target.polled:
            if platform == "mastodon":
                yield "# served to the adapter's GET /api/v1/notifications?types[]=mention&min_id=…"
                document: Any = [post.item]
            else:
                yield "# served by app.bsky.notification.listNotifications (profile by getProfiles)"
                document = {"notifications": [post.item], "profiles": [post.profile]}
            yield json.dumps(document, ensure_ascii=False, indent=2)
        else:
            path = webhook_path(platform, target.channel_id or 0).replace("/0/", "/<channel id>/")
            yield f"POST {url.rstrip('/')}{path}"
            for name, value in post.headers.items():
                yield f"{name}: {value}"
            yield ""
            yield json.dumps(json.loads(post.body), ensure_ascii=False, indent=2)
        yield ""


def plan(targets: Sequence[Target]) -> list[str]:
    """What the run will do, per channel."""
    lines = []
    for target in targets:
        how = "polled from the fake API" if target.polled else "webhook deliveries"
        lines.append(f"  {target}: {how}")
    return lines
