"""Who writes (a fixed pool of customers, a spike's generated crowd) and what they write."""

from __future__ import annotations

import base64
import hashlib
import random
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any


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
