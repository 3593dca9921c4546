"""Demo data: the social customer care of "Acme", a smart-home brand, built through the services.

``load_demo_data()`` fills a database with channels on every built-in platform, three teams of
agents, SLA policies on a Berlin business-hours calendar, reply templates, ~25 customers with their
social identities, and 43 cases in every status, a few of them past or near their first-response
SLA. Each case's timeline is written by the services agents use (``open_case``, ``assign_case``,
``change_status``, ``set_tags``, ``add_note``, ``merge_customers``/``merge_cases``), replayed at
past moments so the history reads like real work.

It is deterministic (seeded) and idempotent: when the brand's channel "Acme on X" exists, it does
nothing. It knows nothing of a host CRM: customers go through ``get_customer_model()`` and the
``CUSTOMER_NAME_FIELD``/``CUSTOMER_EMAIL_FIELD`` settings, so a swapped customer model works too.
"""

from __future__ import annotations

import datetime as dt
import random
import string
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import urlsplit

from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import F, Max, OuterRef, Subquery
from django.db.models.functions import Coalesce
from django.utils import timezone

from socialcare import scoring
from socialcare.conf import app_settings
from socialcare.models import (
    BusinessCalendar,
    BusinessHours,
    Case,
    CaseEvent,
    Channel,
    CustomerMerge,
    Post,
    Priority,
    ReplyTemplate,
    SLAPolicy,
    SocialIdentity,
    Team,
    TeamMembership,
    Visibility,
    get_customer_model,
)
from socialcare.services import cases as case_services
from socialcare.services.customers import link_identity, merge_customers
from socialcare.services.events import record_event
from socialcare.services.replies import note_response
from socialcare.services.sla_state import SLA_STATES, sla_state_filter
from socialcare.services.templates import check_length, render_reply_template

__all__ = ["MARKER_CHANNEL", "load_demo_data"]

#: The channel whose presence means the demo data is already loaded.
MARKER_CHANNEL = "Acme on X"
SEED = 20240611

T = TypeVar("T")
S = Case.Status
P = Priority
NEW, OPEN, WAITING, RESOLVED, CLOSED = S.NEW, S.OPEN, S.WAITING_ON_CUSTOMER, S.RESOLVED, S.CLOSED
LOW, NORMAL, HIGH, URGENT = P.LOW, P.NORMAL, P.HIGH, P.URGENT

# Brand accounts: platform -> (channel name, account id, handle, base URL, default team, secrets).
# Ids match the payloads in the platform fixtures; the secrets are obviously not real.
CHANNELS: dict[str, tuple[str, str, str, str, str, dict[str, str]]] = {
    "x": ("Acme on X", "1114259648326987776", "AcmeHelp", "", "care", {
        "webhook_secret": "demo-x-consumer-secret-not-real",
        "access_token": "demo-x-access-token-not-real",
        "access_token_secret": "demo-x-access-token-secret-not-real",
    }),
    "facebook": ("Acme on Facebook", "103149398319188", "acme", "", "care", {
        "webhook_secret": "demo-meta-app-secret-not-real",
        "verify_token": "demo-meta-verify-token",
        "access_token": "demo-facebook-page-token-not-real",
    }),
    "instagram": ("Acme on Instagram", "17841405309211844", "acme", "", "care", {
        "webhook_secret": "demo-meta-app-secret-not-real",
        "verify_token": "demo-meta-verify-token",
        "access_token": "demo-instagram-token-not-real",
    }),
    "mastodon": ("Acme on Mastodon", "14715", "acmehelp", "https://mastodon.social", "care", {
        "access_token": "demo-mastodon-token-not-real",
    }),
    "bluesky": ("Acme on Bluesky", "did:plc:acmesupport000000000000", "acme.support",
                "https://bsky.social", "care", {
        "access_token": "demo-bluesky-app-password-not-real",
        "refresh_token": "demo-bluesky-refresh-not-real",
    }),
    "email": ("Acme support email", "support@acme.example", "support@acme.example", "",
              "billing", {}),
}  # fmt: skip

# Teams: key -> (name, email, members as (username, first name, last name)).
TEAMS: dict[str, tuple[str, str, list[tuple[str, str, str]]]] = {
    "care": ("Social Care", "care@acme.example", [
        ("maya", "Maya", "Okafor"), ("lukas", "Lukas", "Becker"),
        ("sofia", "Sofia", "Rossi"), ("aiko", "Aiko", "Mori"),
    ]),
    "billing": ("Billing", "billing@acme.example", [
        ("priya", "Priya", "Natarajan"), ("tobias", "Tobias", "Schmidt"),
    ]),
    "escalations": ("Escalations", "escalations@acme.example", [
        ("hannah", "Hannah", "Weber"), ("diego", "Diego", "Álvarez"),
    ]),
}  # fmt: skip

# SLA policies, first match wins: (name, conditions, first response and resolution in minutes,
# counted in the Berlin office's business hours or 24/7).
SLA_POLICIES: list[tuple[str, dict[str, str], int, int | None, bool]] = [
    ("Urgent: 15 minutes", {"priority": URGENT}, 15, 8 * 60, False),
    ("Public X: 1 hour", {"platform": "x", "visibility": "public"}, 60, None, False),
    ("Public Instagram: 1 hour", {"platform": "instagram", "visibility": "public"}, 60, None, False),
    ("Private: 4 business hours", {"visibility": "private"}, 4 * 60, 2 * 10 * 60, True),
    ("Default (24/7)", {}, 2 * 60, 3 * 24 * 60, False),
]  # fmt: skip

# Reply templates: (name, shortcut, visibility, language, text). The English public ones pass the
# case page's tone check (services.tone): thanks, an apology for upset customers, a next step.
TEMPLATES = [
    ("Thanks", "thanks", "", "en",
     "Thank you so much, {{ customer }}! We'll pass this on to the team – it really makes their "
     "day. – {{ agent }}"),
    ("Apology + next step", "sorry-next-step", "", "en",
     "Thanks for telling us, {{ customer }}, and sorry about this. We're looking into it now and "
     "will update you here within the hour. Your reference: {{ case.reference }} – {{ agent }}"),
    ("Take it to DM", "take-to-dm", "public", "en",
     "Hi {{ handle }}, thanks for reaching out, and sorry for the trouble. Could you send us a DM "
     "with the email on your Acme account? Please don't post personal details here. – {{ agent }}"),
    ("Outage holding reply", "outage-holding", "public", "en",
     "Sorry, {{ handle }}: we know many of you can't log in to the Acme app right now. Our "
     "engineers are on it and we'll post updates here every 30 minutes. Thanks for bearing with "
     "us."),
    ("Entschuldigung + nächster Schritt", "entschuldigung", "", "de",
     "Das tut uns leid, {{ customer }}! Wir kümmern uns darum und melden uns innerhalb einer "
     "Stunde hier. Fallnummer: {{ case.reference }} – {{ agent }}"),
    ("Order details please (DM)", "order-details", "private", "en",
     "Hi {{ customer }}, thanks for messaging us. Could you send us your order number and the "
     "email on your Acme account? Then we can check it right away. – {{ agent }}"),
    ("Refund on its way (DM)", "refund-sent", "private", "en",
     "Hi {{ customer }}, thank you for your patience. We've issued your refund "
     "({{ case.reference }}); it reaches your account in 3–5 working days. – {{ agent }}"),
]  # fmt: skip

# An identity: (platform, handle, display name, followers or None for a typical count,
# platform-verified, platform user id or "" to make one up).
Identity = tuple[str, str, str, int | None, bool, str]

# Customers: key -> (name, email, identities).
CUSTOMERS: dict[str, tuple[str, str, list[Identity]]] = {
    "marcus": ("Marcus Reid", "marcus@reidreviews.example.com", [
        ("x", "marcusreidtech", "Marcus Reid", 412_000, True, ""),
        ("bluesky", "marcusreid.bsky.social", "Marcus Reid", 88_400, False, "")]),
    "zoe": ("Zoë Brooks 🎧", "zoe@zoebrooks.example.com", [
        ("instagram", "zoebrooksmusic", "Zoë Brooks 🎧", 156_000, True, ""),
        ("x", "zoebrooks", "Zoë 🎧", 98_300, False, "")]),
    "jonas": ("Jonas Müller", "jonas.mueller@example.de", [
        ("x", "jmueller_berlin", "Jonas Müller", None, False, ""),
        ("facebook", "", "Jonas Müller", None, False, "5522113344556677")]),
    "jonas_dup": ("Jonas Mueller", "j.mueller@example.de", [
        ("email", "j.mueller@example.de", "Jonas Mueller", 0, False, "")]),
    "kenji": ("田中 健二", "kenji.tanaka@example.jp", [
        ("instagram", "kenji.tanaka_", "Kenji Tanaka 田中健二", None, False, "1068245441393221"),
        ("x", "kenji_tnk", "けんじ", None, False, "")]),
    "susie": ("Susie Avellanosa", "susie.avellanosa@example.com", [
        ("facebook", "", "Susie Avellanosa", None, False, "3450429531722233")]),
    "lena": ("Lena Fischer", "lena.fischer@example.org", [
        ("mastodon", "lena@fosstodon.org", "Lena ☕", 2045, False, ""),
        ("bluesky", "lenafischer.bsky.social", "Lena Fischer", None, False, "")]),
    "aisha": ("Aisha Khan", "aisha@khandesign.example.com", [
        ("x", "aisha_k_design", "Aisha Khan", None, False, ""),
        ("email", "aisha@khandesign.example.com", "Aisha Khan", 0, False, "")]),
    "chloe": ("Chloé Dubois 🌻", "chloe.dubois@example.fr", [
        ("instagram", "chloe.dbs", "Chloé 🌻", None, False, ""),
        ("x", "chloedubois", "Chloé Dubois", None, False, "")]),
    "sam": ("Sam Patel", "sam@sampatelreviews.example.com", [
        ("x", "sampatelreviews", "Sam Patel | Tech", 63_200, True, "")]),
    "karl": ("Karl-Heinz Größmann", "k.groessmann@example.de", [
        ("email", "k.groessmann@example.de", "Karl-Heinz Größmann", 0, False, ""),
        ("facebook", "", "Karl-Heinz Größmann", None, False, "")]),
    "grace": ("Grace Liu 🚀", "grace@graceliu.example.dev", [
        ("bluesky", "graceliu.dev", "Grace Liu 🚀", None, False, ""),
        ("mastodon", "grace@hachyderm.io", "Grace 🚀", None, False, "")]),
    "misaki": ("佐藤 美咲", "misaki.sato@example.jp", [
        ("x", "misaki_sato", "佐藤美咲", None, False, "")]),
    "fatima": ("Fatima Zahra El Amrani", "fatima.elamrani@example.com", [
        ("facebook", "", "Fatima Zahra El Amrani", None, False, ""),
        ("instagram", "fatimazahra.ea", "Fatima Zahra", None, False, "")]),
    "tom": ("Tom O'Connor", "tom.oconnor@example.ie", [
        ("x", "tomoc", "Tom O'Connor", None, False, ""),
        ("email", "tom.oconnor@example.ie", "Tom O'Connor", 0, False, "")]),
    "seun": ("Oluwaseun Adeyemi", "seun.adeyemi@example.com", [
        ("x", "seun_adeyemi", "Seun Adeyemi", None, False, "")]),
    "emilie": ("Émilie Laurent", "emilie.laurent@example.fr", [
        ("instagram", "emilie.laurent", "Émilie Laurent", None, False, "")]),
    "noah": ("Noah Williams", "noah.williams@example.com", [
        ("facebook", "", "Noah Williams", None, False, ""),
        ("x", "noahw", "Noah W.", None, False, "")]),
    "yuki": ("中村 有希", "yuki.nakamura@example.jp", [
        ("instagram", "yuki.nakamura", "Yuki Nakamura", None, False, "")]),
    "ingrid": ("Ingrid Svensson", "ingrid.svensson@example.se", [
        ("bluesky", "ingrid.bsky.social", "Ingrid Svensson", None, False, "")]),
    "rafael": ("Rafael Costa", "rafael.costa@example.com.br", [
        ("x", "rafacosta", "Rafa Costa", None, False, "")]),
    "hana": ("김하나", "hana.kim@example.kr", [
        ("instagram", "hana.kim", "하나 Hana", None, False, "")]),
    "leila": ("Leila Haddad", "leila.haddad@example.com", [
        ("x", "leila_haddad", "Leila Haddad", 8_900, False, "")]),
    "soren": ("Søren Kjær", "soren.kjaer@example.dk", [
        ("mastodon", "soren@mastodon.social", "Søren", None, False, "")]),
    "mateo": ("Mateo García", "mateo.garcia@example.es", [
        ("email", "mateo.garcia@example.es", "Mateo García", 0, False, "")]),
    "ananya": ("Ananya Iyer", "ananya.iyer@example.in", [
        ("x", "ananya_iyer", "Ananya Iyer", None, False, ""),
        ("email", "ananya.iyer@example.in", "Ananya Iyer", 0, False, "")]),
}  # fmt: skip

# Identities nobody has matched to a customer yet: key -> identity.
UNRESOLVED: dict[str, Identity] = {
    "kev": ("x", "crypto_kev", "Kev 🚀🌕", None, False, ""),
    "owl": ("instagram", "night_owl_88", "night owl", None, False, ""),
    "pixel": ("mastodon", "pixelpunk@mastodon.social", "pixelpunk", None, False, ""),
    "anon": ("bluesky", "anon-dev.bsky.social", "anon dev", None, False, ""),
}


@dataclass(frozen=True)
class Story:
    """One case as it happened: the first post, then (optionally) an agent's reply and an answer."""

    who: str  # a CUSTOMERS key, or "?" + an UNRESOLVED key
    platform: str
    status: str  # where the case ends up
    priority: str
    hours_ago: float  # when the case was opened
    text: str
    agent: str = ""  # who took the case (empty: nobody yet)
    reply: str = ""  # the agent's reply; "@shortcut" renders that reply template
    follow_up: str = ""  # the customer's answer to the reply
    tags: tuple[str, ...] = ()
    note: str = ""
    private: bool = False
    team: str = ""  # a TEAMS key when not the channel's default team
    kind: str = ""  # the first post's kind when not the usual one for the platform
    # For text VADER cannot score (it reads English): the first post's and the answer's sentiment.
    sentiment: float | None = None
    follow_up_sentiment: float | None = None


STORIES = [
    Story("marcus", "x", OPEN, URGENT, 2.5,
          "@AcmeHelp third Acme Cam in a month that just dies overnight. 412k of you follow me for "
          "honest reviews, so here it is: don't buy this until Acme fixes it.",
          agent="hannah", team="escalations",
          reply="We're really sorry, Marcus. This isn't the experience we want for anyone. Our "
          "hardware team would like to look at the unit; could you DM us its serial number? – Hannah",
          follow_up="DM sent. Let's see if you actually follow up this time.",
          follow_up_sentiment=-0.3,
          tags=("influencer", "hardware", "acme-cam"),
          note="412k followers, tech reviewer. Offer a replacement and a direct line to hardware "
          "QA; loop in PR before any public statement.", sentiment=-0.7),
    Story("zoe", "instagram", WAITING, HIGH, 20,
          "Love the new Hub design 😍 but the app has logged me out three times today and my lights "
          "won't turn on… help??",
          agent="sofia", reply="@take-to-dm", tags=("app-login", "influencer")),
    Story("jonas", "x", OPEN, NORMAL, 30,
          "@AcmeHelp Bestellung #AC-48213 seit 9 Tagen „in Zustellung“. Das Tracking bewegt sich "
          "nicht, und am Telefon geht niemand ran. Was ist da los?",
          agent="lukas", reply="@entschuldigung",
          follow_up="Danke. Hoffentlich diesmal wirklich.", tags=("delivery",),
          note="DHL says the parcel is stuck in the Leipzig hub; requested a trace.",
          sentiment=-0.6, follow_up_sentiment=-0.1),
    Story("jonas_dup", "email", NEW, NORMAL, 26,
          "Order AC-48213 not delivered\n\nHello, I already wrote on Twitter. My order AC-48213 is "
          "still not here after 9 days. Please refund it or send it again.\n\nJonas Mueller"),
    Story("kenji", "instagram", RESOLVED, NORMAL, 50,
          "アプリを更新してから、カメラの通知が届かなくなりました。設定は何も変えていません。",
          agent="aiko",
          reply="Sorry about that, Kenji! Version 4.2.1, out today, fixes missing camera "
          "notifications. Could you update and let us know? 🙏",
          follow_up="アップデートしたら直りました！ありがとうございます 🙏",
          tags=("notifications", "app"), sentiment=-0.4, follow_up_sentiment=0.7),
    Story("susie", "facebook", CLOSED, LOW, 120,
          "🙏 Thank you Acme team, Raj sorted out my return in 5 minutes on chat yesterday!",
          agent="maya", reply="@thanks", tags=("praise",), sentiment=0.8),
    Story("lena", "mastodon", WAITING, HIGH, 9,
          "@acmehelp I think someone logged into my Acme account from another country last night. "
          "I got a 'new device' email I didn't trigger. What should I do?",
          private=True, agent="diego", team="escalations",
          reply="Thanks for telling us so quickly, Lena. We've signed out every session on your "
          "account. Please reset your password and turn on two-step verification, then confirm the "
          "email on the account so we can check the sign-in log.",
          tags=("security", "account"),
          note="Sign-in from a Tor exit node at 02:14. Sessions revoked; watch for a refund request "
          "on the stored card.", sentiment=-0.4),
    Story("aisha", "x", NEW, NORMAL, 3,
          "Been on hold with @AcmeHelp for 47 minutes. 47. Just to cancel a subscription I never "
          "signed up for.",
          team="billing", tags=("billing", "cancellation")),
    Story("?kev", "x", NEW, LOW, 0.2,
          "@AcmeHelp is the Acme Hub compatible with Matter yet or still 'coming soon' 🙃"),
    Story("chloe", "instagram", OPEN, NORMAL, 5,
          "Bonjour ! Ma commande est arrivée avec l'écran du Hub fissuré 😢 J'ai des photos, je fais "
          "comment pour l'échange ?",
          private=True, agent="sofia",
          reply="Bonjour Chloé, désolés ! Envoyez-nous les photos ici avec votre numéro de "
          "commande, on lance l'échange tout de suite. – Sofia",
          follow_up="Voilà les photos, commande AC-51902 📦", tags=("damaged", "exchange"),
          sentiment=-0.5, follow_up_sentiment=0.0),
    Story("sam", "x", RESOLVED, HIGH, 70,
          "Acme Plus went from €4.99 to €7.99 with one email and no opt-out link. That's not how "
          "you treat early adopters @AcmeHelp",
          agent="priya", team="billing",
          reply="Hi Sam, fair criticism. Early adopters keep €4.99 for 12 more months; you'll see it "
          "on your next invoice. Sorry the email didn't say so. – Priya",
          follow_up="OK, that's actually decent. Thanks for the quick answer.",
          tags=("pricing", "influencer")),
    Story("karl", "email", CLOSED, NORMAL, 140,
          "Doppelte Abbuchung Rechnung 2024-118842\n\nSehr geehrte Damen und Herren, die Rechnung "
          "2024-118842 wurde doppelt abgebucht. Bitte erstatten Sie mir 89,00 €.\n\nMit freundlichen "
          "Grüßen\nKarl-Heinz Größmann",
          agent="tobias",
          reply="Sehr geehrter Herr Größmann, vielen Dank für Ihre Nachricht. Die doppelte "
          "Abbuchung ist storniert; die 89,00 € sind in 3–5 Werktagen auf Ihrem Konto.\n\nMit "
          "freundlichen Grüßen\nTobias Schmidt, Acme Billing",
          follow_up="Vielen Dank für die schnelle Erledigung!",
          tags=("billing", "refund"), sentiment=-0.3, follow_up_sentiment=0.7),
    Story("grace", "bluesky", CLOSED, LOW, 100,
          "shoutout to @acme.support for replacing my dead Cam in 2 days, no questions asked 🧑‍💻✨",
          agent="maya", reply="Thanks Grace, so glad it's sorted! ✨ – Maya", tags=("praise",),
          sentiment=0.7),
    Story("misaki", "x", OPEN, HIGH, 1.5,
          "@AcmeHelp ハブが再起動を繰り返していて、家の照明が全部使えません。どうすればいいですか？",
          agent="aiko", tags=("hub",), sentiment=-0.6),
    Story("fatima", "facebook", WAITING, NORMAL, 28,
          "Hi, I was charged twice for my Acme Plus subscription this month. Can you refund one of "
          "them?",
          private=True, agent="priya", team="billing",
          reply="Hi Fatima, sorry about that! Could you send us the last 4 digits of the card and "
          "the dates of both charges? Then we'll refund the duplicate right away. – Priya",
          tags=("billing", "double-charge")),
    Story("tom", "x", CLOSED, NORMAL, 150,
          "@AcmeHelp the app crashes every time I open the camera tab on my Pixel 8. Reinstalled "
          "twice. Useless.",
          kind="reply", agent="lukas",
          reply="Sorry Tom! That's a known bug on Android 14 and version 4.2.0 (out now) fixes it. "
          "Could you update and let us know? – Lukas",
          follow_up="Updated, works now 👍", tags=("app", "android"), follow_up_sentiment=0.5),
    Story("seun", "x", NEW, URGENT, 0.5,
          "@AcmeHelp my Acme smoke sensor keeps beeping 'hardware fault' but the app says everything "
          "is fine. Which one do I believe?? I have kids in the house.",
          team="escalations", tags=("safety",), sentiment=-0.5),
    Story("emilie", "instagram", RESOLVED, LOW, 60,
          "Does the Hub work with Google Home? Thinking of buying one for my parents.",
          agent="sofia",
          reply="Yes it does, Émilie! Add it in the Google Home app under 'Works with Google'; "
          "setup takes about 2 minutes. – Sofia",
          follow_up="Parfait, merci !", tags=("pre-sales",), follow_up_sentiment=0.6),
    Story("noah", "facebook", OPEN, HIGH, 7,
          "Third time asking: where is my refund? Returned the Cam on the 2nd, tracking says "
          "delivered to your warehouse. Nobody answers emails.",
          agent="maya", team="billing",
          reply="Hi Noah, we're sorry for the wait. I've escalated your refund to our billing "
          "team; could you DM us your order number so we can check? – Maya",
          follow_up="Sent. Again.", tags=("refund", "escalated"),
          sentiment=-0.6, follow_up_sentiment=-0.4),
    Story("yuki", "instagram", RESOLVED, NORMAL, 45,
          "Hi! How do I share camera access with my partner? The invite link expired 😅",
          private=True, agent="aiko",
          reply="Hi Yuki! Invites expire after 24 hours. Go to Settings → Household → Invite and ask "
          "your partner to accept within a day 😊 – Aiko",
          follow_up="Got it, thank you!!", tags=("how-to",)),
    Story("ingrid", "bluesky", WAITING, NORMAL, 16,
          "@acme.support the Hub drops off wifi every night around 3am. Router is fine, "
          "everything else stays connected.",
          agent="lukas",
          reply="Hi Ingrid, could you tell us the Hub's firmware version (Settings → Device → "
          "About) and your router model? Nightly drops often come from a channel change.",
          tags=("wifi", "hub"), sentiment=-0.3),
    Story("rafael", "x", CLOSED, LOW, 130,
          "Honestly the Acme support team is the best I've dealt with this year. Fixed my billing "
          "in one reply. @AcmeHelp 👏",
          agent="priya", reply="@thanks", tags=("praise",)),
    Story("hana", "instagram", NEW, NORMAL, 1.2,
          "배송이 일주일째 안 와요. 주문번호 AC-52117 확인 부탁드려요 😭",
          tags=("delivery",), sentiment=-0.5),
    Story("leila", "x", WAITING, HIGH, 12,
          "Your status page says 'all systems operational' while nobody I know can log in. Which "
          "is it @AcmeHelp?",
          agent="hannah", reply="@outage-holding", tags=("outage", "app-login"), sentiment=-0.5),
    Story("soren", "mastodon", OPEN, NORMAL, 22,
          "@acmehelp any plans for a local-only mode on the Hub? I'd rather my light switches "
          "didn't need the cloud.",
          agent="lukas",
          reply="Great question, Søren! Local control is on our roadmap for later this year, and "
          "I've added your vote to the request. – Lukas",
          follow_up="Thanks! Will there be a beta I can join?", tags=("feature-request",)),
    Story("mateo", "email", NEW, NORMAL, 20,
          "Wrong colour Hub\n\nHola, I ordered the wrong colour Hub (white instead of black). Can I "
          "still swap it? Order AC-50076.\n\nGracias, Mateo",
          tags=("exchange",), sentiment=-0.1),
    Story("ananya", "x", OPEN, HIGH, 4,
          "My account has been suspended and I don't know why. All my cameras are offline and I'm "
          "travelling, so I can't check on my home. Please help.",
          private=True, agent="diego", team="escalations", tags=("account", "security"),
          sentiment=-0.6),
    Story("?owl", "instagram", NEW, LOW, 0.05, "is there a black friday deal coming?? 👀"),
    Story("?pixel", "mastodon", WAITING, NORMAL, 35,
          "@acmehelp are the rate limits of your cloud API documented anywhere? Building a "
          "dashboard for my Hub.",
          agent="maya",
          reply="Hi! 60 requests per minute per token; the limits are at "
          "developer.acme.example/limits. Is that enough for your dashboard? – Maya",
          tags=("developer",)),
    Story("?anon", "bluesky", CLOSED, NORMAL, 90,
          "the Acme status page has been down longer than the service it reports on lol",
          agent="hannah",
          reply="Fair hit 😅 The status page is back, and it now runs on separate infrastructure.",
          tags=("outage",), sentiment=-0.2),
    Story("marcus", "bluesky", CLOSED, HIGH, 110,
          "Acme Cam night vision looks noticeably worse since the last firmware update. Anyone "
          "else seeing this?",
          agent="hannah", team="escalations",
          reply="Thanks Marcus, confirmed on our side: firmware 3.8.2 restores night vision "
          "quality and is rolling out now. – Hannah",
          follow_up="Installed it, night vision is back to normal. Thanks.",
          tags=("firmware", "influencer")),
    Story("aisha", "email", CLOSED, LOW, 96,
          "Invoice with company address\n\nHi, could you send me an invoice for my March order with "
          "my company address? Khan Design Ltd, 14 Mill Lane, Leeds.\n\nThanks, Aisha",
          agent="tobias",
          reply="Hi Aisha, here is invoice AC-INV-30417 with your company address. Anything else, "
          "just reply here. – Tobias",
          follow_up="Perfect, thank you!", tags=("invoice",)),
    Story("kenji", "x", OPEN, LOW, 10,
          "@AcmeHelp 日本でもHubは買えますか？ Is the Hub sold in Japan yet?",
          agent="aiko", tags=("pre-sales",), sentiment=0.1),
    Story("chloe", "x", RESOLVED, LOW, 80,
          "Commande reçue en 2 jours, installée en 5 minutes. Bravo @AcmeHelp 🌻",
          agent="sofia", reply="Merci Chloé, ça nous fait très plaisir ! 🌻 – Sofia",
          follow_up="🌻🌻", tags=("praise",), sentiment=0.8, follow_up_sentiment=0.5),
    Story("lena", "bluesky", WAITING, NORMAL, 40,
          "does @acme.support export camera clips in a non-proprietary format? asking before I "
          "buy more of them",
          agent="maya",
          reply="Hi Lena! Clips export as standard MP4 (H.264) from the app or the web dashboard. "
          "Want a link to the guide? – Maya",
          tags=("pre-sales",)),
    Story("zoe", "x", RESOLVED, HIGH, 55,
          "my Acme Plus trial turned into a YEARLY charge without any reminder email. €79. not cool",
          agent="priya", team="billing",
          reply="Hi Zoë, we're sorry! We've refunded the €79 and switched you to monthly. The "
          "missing reminder email was a bug and is fixed. – Priya",
          follow_up="refund landed, thanks for sorting it so fast 🎧",
          tags=("billing", "refund", "influencer")),
    Story("tom", "email", WAITING, LOW, 50,
          "Changing my account email\n\nHello, can I change the email address on my account? I'm "
          "moving jobs and will lose the old one.\n\nTom",
          agent="tobias",
          reply="Hi Tom, sure! For security, please reply from your current address with the new "
          "one and we'll switch it. – Tobias",
          tags=("account",), sentiment=0.0),
    Story("grace", "mastodon", NEW, NORMAL, 0.4,
          "@acmehelp hey! the invite email for my Acme family plan never arrived, I checked spam "
          "too", private=True, tags=("account",)),
    Story("susie", "facebook", RESOLVED, NORMAL, 75,
          "Is anyone else's Hub stuck on a blinking orange light after the update? Unplugged it "
          "twice already.",
          agent="lukas",
          reply="Hi Susie! Hold the button for 10 seconds until it blinks white; it will finish the "
          "update by itself. Sorry for the trouble! – Lukas",
          follow_up="That did it, thanks!", tags=("hub", "firmware")),
    Story("seun", "x", CLOSED, NORMAL, 145,
          "@AcmeHelp ordered the Cam bundle, got two Hubs instead 😂",
          agent="sofia",
          reply="Oops, sorry Seun! 😅 A courier will collect the extra Hub and the Cam bundle is on "
          "its way; you'll get tracking by email. – Sofia",
          follow_up="Got the Cam, courier took the Hub. All good!", tags=("delivery", "wrong-item")),
    Story("noah", "x", OPEN, URGENT, 0.9,
          "@AcmeHelp is this a data breach? I just got 14 password reset emails from you in 10 "
          "minutes.",
          agent="hannah", team="escalations", tags=("security",), sentiment=-0.6),
    # Due within the SLA warning window when the demo is loaded (public X and Instagram: 1 hour).
    Story("rafael", "x", NEW, NORMAL, 0.83,
          "@AcmeHelp my Cam asks me to pair it again after every Hub reboot. Is there a fix for "
          "that?", tags=("acme-cam", "hub"), sentiment=-0.3),
    Story("emilie", "instagram", NEW, HIGH, 0.8,
          "The Cam I got for my parents won't connect to their wifi, the app just says 'error "
          "12'. What does that mean?", tags=("acme-cam",), sentiment=-0.3),
]  # fmt: skip


def load_demo_data(*, now: dt.datetime | None = None) -> dict[str, Any]:
    """Load the Acme demo into the database and return what was created.

    Does nothing (and returns ``{"created": False}``) when the demo's channel already exists. The
    same call at the same ``now`` always builds the same data; the whole load is one transaction.
    """
    if Channel.objects.filter(name=MARKER_CHANNEL).exists():
        return {"created": False}
    with transaction.atomic():
        return _Builder(now or timezone.now()).build()


class _Builder:
    def __init__(self, now: dt.datetime) -> None:
        self.now = now
        self.rng = random.Random(SEED)
        self.post_ids: set[tuple[str, str]] = set()
        self.agents: dict[str, Any] = {}
        self.teams: dict[str, Team] = {}
        self.channels: dict[str, Channel] = {}
        self.customers: dict[str, Any] = {}
        self.identities: dict[tuple[str, str], SocialIdentity] = {}
        self.templates: dict[str, ReplyTemplate] = {}
        self.cases: list[tuple[Story, Case]] = []
        self.posts = 0

    def build(self) -> dict[str, Any]:
        calendar = self._calendar()
        self._teams(calendar)
        self._channels()
        self._sla_policies(calendar)
        self._templates()
        self._customers()
        for story in STORIES:
            self.cases.append((story, self._play(story)))
        self._merge_duplicates()
        self._privacy()
        self._touch()
        return self._counts()

    # Set-up ------------------------------------------------------------------------------------

    def _calendar(self) -> BusinessCalendar:
        year = self.now.year
        calendar = BusinessCalendar.objects.create(
            name="Berlin office",
            timezone="Europe/Berlin",
            holiday_country="DE",
            holiday_subdivision="BE",
            extra_closed_days=[f"{year}-12-24", f"{year}-12-31"],
        )
        BusinessHours.objects.bulk_create(
            BusinessHours(calendar=calendar, weekday=day, opens=dt.time(8), closes=dt.time(18))
            for day in range(5)
        )
        return calendar

    def _teams(self, calendar: BusinessCalendar) -> None:
        User = get_user_model()
        for key, (name, email, members) in TEAMS.items():
            team = Team.objects.create(
                name=name, email=email, calendar=calendar if key == "billing" else None
            )
            self.teams[key] = team
            for username, first, last in members:
                user, created = User._default_manager.get_or_create(
                    **{User.USERNAME_FIELD: username},
                    defaults={
                        "first_name": first,
                        "last_name": last,
                        "email": f"{username}@acme.example",
                        "is_staff": True,
                    },
                )
                if created:
                    user.set_unusable_password()
                    user.save()
                self.agents[username] = user
                TeamMembership.objects.create(team=team, user=user, on_duty=True)

    def _channels(self) -> None:
        for platform, (name, account_id, handle, base_url, team, secrets) in CHANNELS.items():
            channel = Channel(
                name=name,
                platform=platform,
                account_id=account_id,
                handle=handle,
                base_url=base_url,
                default_team=self.teams[team],
                can_reply_public=platform != "email",
            )
            for secret, value in secrets.items():
                channel.set_secret(secret, value)
            channel.save()
            self.channels[platform] = channel

    def _sla_policies(self, calendar: BusinessCalendar) -> None:
        for order, (name, conditions, first, resolve, business_hours) in enumerate(SLA_POLICIES):
            SLAPolicy.objects.create(
                name=name,
                order=(order + 1) * 10,
                first_response_minutes=first,
                resolution_minutes=resolve,
                calendar=calendar if business_hours else None,
                **conditions,
            )

    def _templates(self) -> None:
        for name, shortcut, visibility, language, text in TEMPLATES:
            self.templates[shortcut] = ReplyTemplate.objects.create(
                name=name, shortcut=shortcut, visibility=visibility, language=language, text=text
            )

    def _customers(self) -> None:
        Customer = get_customer_model()
        name_field = app_settings.CUSTOMER_NAME_FIELD
        email_field = app_settings.CUSTOMER_EMAIL_FIELD
        for key, (name, email, identities) in CUSTOMERS.items():
            customer = Customer._default_manager.create(**{name_field: name, email_field: email})
            self.customers[key] = customer
            for spec in identities:
                identity = self._identity(spec, owned=True)
                self.identities[key, spec[0]] = identity
                link_identity(identity, customer)
        for key, spec in UNRESOLVED.items():
            self.identities["?" + key, spec[0]] = self._identity(spec)

    def _identity(self, spec: Identity, *, owned: bool = False) -> SocialIdentity:
        platform, handle, display_name, followers, verified, external_id = spec
        if followers is None:  # heavy-tailed, like real audiences: most small, a few large
            followers = min(int(25 * self.rng.paretovariate(0.8)), 45_000)
        external_id = external_id or self._user_id(platform, handle)
        seen = self.now - dt.timedelta(days=self.rng.randint(30, 1500))
        # Some customers signed in with their social account once, proving they own it.
        proved = owned and platform != "email" and self.rng.random() < 0.3
        return SocialIdentity.objects.create(
            platform=platform,
            external_id=external_id,
            handle="" if platform == "email" else handle,  # the address is the id
            display_name=display_name,
            profile_url=_profile_url(platform, handle, external_id),
            followers_count=followers,
            platform_verified=verified,
            owner_verified_at=seen + dt.timedelta(days=2) if proved else None,
            owner_verified_via=f"social login ({platform})" if proved else "",
            first_seen_at=seen,
            last_seen_at=seen,
        )

    def _user_id(self, platform: str, handle: str) -> str:
        match platform:
            case "x":
                return str(self.rng.randrange(10**8, 2 * 10**18))
            case "facebook" | "instagram":
                return str(self.rng.randrange(10**15, 10**16))
            case "mastodon":
                user, _, server = handle.partition("@")
                return f"https://{server}/@{user}"  # the account URL, as the adapter stores it
            case "bluesky":
                return "did:plc:" + self._token(24, string.ascii_lowercase + "234567")
            case _:
                return handle.lower()

    # Cases -------------------------------------------------------------------------------------

    def _play(self, story: Story) -> Case:
        """Replay one story: the customer's post, the case, and what agents did, in order."""
        identity = self.identities[story.who, story.platform]
        agent = self.agents.get(story.agent)
        private = story.private or story.platform == "email"
        opened = self.now - dt.timedelta(hours=story.hours_ago)
        span = self.now - opened

        def later(start: dt.datetime, share: float, minutes: float) -> dt.datetime:
            # At most ``share`` of the case's age: the steps' shares add up to less than 1, so
            # every step happens before ``now``, however young the case.
            return start + min(span * share, dt.timedelta(minutes=minutes))

        case = case_services.open_case(
            channel=self.channels[story.platform],
            identity=identity,
            subject=_subject(story.text),
            priority=story.priority,
            visibility=Visibility.PRIVATE if private else Visibility.PUBLIC,
            team=self.teams.get(story.team),
            opened_at=opened,
        )
        # The post was written a little before it reached us and opened the case.
        first = self._inbound(case, story, story.text, opened - dt.timedelta(seconds=40), opened)
        if agent is None:  # still in the queue; keyword rules tagged it
            if story.tags:
                self._at(later(opened, 0.01, 0.2), case_services.set_tags, case, story.tags)
            return case
        clock = later(opened, 0.05, self.rng.uniform(2, 8))
        self._at(clock, case_services.assign_case, case, agent)
        if story.tags:
            clock = later(clock, 0.01, 1)
            self._at(clock, case_services.set_tags, case, story.tags, actor=agent)
        if story.note:
            clock = later(clock, 0.02, 3)
            self._at(clock, case_services.add_note, case, story.note, actor=agent)
        if not story.reply:
            return case
        clock = later(clock, 0.1, self.rng.uniform(4, 40))
        reply = self._reply(case, story, agent, clock, parent=first)
        if story.status == WAITING:
            self._status(case, WAITING, later(clock, 0.01, 0.5), agent)
            return case
        if story.follow_up:
            clock = later(clock, 0.2, self.rng.uniform(15, 180))
            self._inbound(case, story, story.follow_up, clock, parent=reply)
        if story.status in (RESOLVED, CLOSED):
            clock = later(clock, 0.1, self.rng.uniform(5, 30))
            self._status(case, RESOLVED, clock, agent)
        if story.status == CLOSED:
            self._status(case, CLOSED, later(clock, 0.3, 24 * 60), None, "resolved for a day")
        return case

    def _inbound(
        self,
        case: Case,
        story: Story,
        text: str,
        at: dt.datetime,
        received: dt.datetime | None = None,
        parent: Post | None = None,
    ) -> Post:
        kind = (
            story.kind
            if parent is None and story.kind
            else _kind(case, inbound=True, reply=bool(parent))
        )
        sentiment = story.sentiment if parent is None else story.follow_up_sentiment
        post = self._post(
            case,
            inbound=True,
            kind=kind,
            at=at,
            text=text,
            received=received or at + dt.timedelta(seconds=2),
            author=case.identity,
            parent=parent,
            sentiment=scoring.sentiment(text) if sentiment is None else sentiment,
            reach=case.identity.followers_count,
        )
        record_event(
            case,
            CaseEvent.Kind.POST_ADDED,
            post=post,
            at=post.received_at,
            text=text[:280],
            author=str(case.identity),
        )
        Case.objects.filter(pk=case.pk).update(last_inbound_at=at)
        return post

    def _reply(self, case: Case, story: Story, agent: Any, at: dt.datetime, parent: Post) -> Post:
        """An agent's reply, as ``replies.send_reply`` queues it and the worker then sends it."""
        template = self.templates.get(story.reply[1:]) if story.reply.startswith("@") else None
        text = render_reply_template(template, case, agent) if template else story.reply
        check_length(text, case.channel.platform, case.visibility)
        kind = _kind(case, inbound=False, reply=True)
        post = self._post(
            case,
            inbound=False,
            kind=kind,
            at=at,
            text=text,
            parent=parent,
            sent_by=agent,
            send_status=Post.SendStatus.SENT,
            send_attempts=1,
        )
        record_event(
            case,
            CaseEvent.Kind.REPLIED,
            actor=agent,
            post=post,
            at=at,
            text=text[:2000],
            visibility=case.visibility,
            template=template.name if template else "",
        )
        note_response(case, at)
        return post

    def _post(
        self,
        case: Case,
        *,
        inbound: bool,
        at: dt.datetime,
        parent: Post | None,
        received: dt.datetime | None = None,
        **fields: Any,
    ) -> Post:
        external_id, url, local_id = self._post_id(case, at, inbound=inbound)
        self.posts += 1
        return Post.objects.create(
            platform=case.channel.platform,
            external_id=external_id,
            url=url,
            local_id=local_id,
            channel=case.channel,
            direction=Post.Direction.INBOUND if inbound else Post.Direction.OUTBOUND,
            visibility=case.visibility,
            posted_at=at,
            received_at=received or at,
            parent=parent,
            in_reply_to_external_id=parent.external_id if parent else "",
            conversation_id=parent.conversation_id if parent else external_id,
            case=case,
            **fields,
        )

    def _post_id(self, case: Case, at: dt.datetime, *, inbound: bool) -> tuple[str, str, str]:
        """A platform-shaped post id, unique on its platform; the post's URL if it has one; and
        the id on the brand's server where replies need it (Mastodon)."""
        channel, identity = case.channel, case.identity
        handle = identity.handle if inbound else channel.handle
        public = case.visibility == Visibility.PUBLIC
        ms = int(at.timestamp() * 1000)
        local_id = ""
        match channel.platform:
            case "x":  # a snowflake: milliseconds since the Twitter epoch, then worker and sequence
                post_id = str(((ms - 1288834974657) << 22) | self.rng.randrange(1 << 22))
                url = f"https://x.com/{handle}/status/{post_id}" if public else ""
            case "mastodon":  # the status URI is global; local ids only mean something per server
                user, _, server = handle.partition("@")
                server = server or urlsplit(channel.base_url).hostname
                local_id = str((ms << 16) | self.rng.randrange(1 << 16))
                post_id = f"https://{server}/users/{user}/statuses/{local_id}"
                url = f"https://{server}/@{user}/{local_id}"
            case "bluesky":  # an at-URI whose record key is a TID (microseconds, base32-sortable)
                tid = _base32_sortable((int(at.timestamp() * 1e6) << 10) | self.rng.randrange(1024))
                did = identity.external_id if inbound else channel.account_id
                post_id = f"at://{did}/app.bsky.feed.post/{tid}"
                url = f"https://bsky.app/profile/{handle}/post/{tid}" if public else ""
            case "facebook" | "instagram" if not public:  # a Messenger / Instagram message id
                post_id, url = "m_" + self._token(43), ""
            case "facebook":  # comment ids are "<object id>_<comment id>"
                post_id = f"{self.rng.randrange(10**14, 10**15)}_{self.rng.randrange(10**15):015d}"
                url = f"https://www.facebook.com/{channel.handle}/posts/{post_id.split('_')[0]}"
            case "instagram":
                post_id, url = str(self.rng.randrange(17 * 10**15, 18 * 10**15)), ""
            case _:  # an email Message-ID from the sender's domain
                sender = identity.external_id if inbound else channel.account_id
                post_id, url = f"<{self._token(20)}@{sender.partition('@')[2]}>", ""
        if (channel.platform, post_id) in self.post_ids:  # vanishingly rare; draw again
            return self._post_id(case, at, inbound=inbound)
        self.post_ids.add((channel.platform, post_id))
        return post_id, url, local_id

    def _status(self, case: Case, to: str, at: dt.datetime, actor: Any, reason: str = "") -> None:
        self._at(at, case_services.change_status, case, to, actor=actor, reason=reason)
        if to == RESOLVED:
            Case.objects.filter(pk=case.pk).update(resolved_at=at)
        elif to == CLOSED:
            Case.objects.filter(pk=case.pk).update(closed_at=at)

    def _case(self, who: str, platform: str) -> Case:
        return next(c for s, c in self.cases if (s.who, s.platform) == (who, platform))

    def _merge_duplicates(self) -> None:
        """Jonas wrote on X and by email from another address: merge him, then his two cases."""
        agent = self.agents["lukas"]
        at = self.now - dt.timedelta(hours=19)
        dup, jonas = self.customers["jonas_dup"], self.customers["jonas"]
        merge = self._at(at, merge_customers, dup, jonas, actor=agent)
        CustomerMerge.objects.filter(pk=merge.pk).update(merged_at=at)
        at += dt.timedelta(minutes=1)
        email_case = self._case("jonas_dup", "email")
        self._at(at, case_services.merge_cases, email_case, self._case("jonas", "x"), actor=agent)
        Case.objects.filter(pk=email_case.pk).update(resolved_at=at, closed_at=at)

    def _privacy(self) -> None:
        """After the merge Jonas asked for a copy of his data: one export in the privacy log."""
        from socialcare.models import PrivacyRequest
        from socialcare.services.privacy import export_customer

        jonas = self.customers["jonas"]
        export_customer(jonas, actor=self.agents["lukas"], source=PrivacyRequest.Source.ADMIN)
        PrivacyRequest.objects.filter(customer_id=str(jonas.pk)).update(
            created_at=self.now - dt.timedelta(hours=18)
        )

    def _at(self, at: dt.datetime, service: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Call a service as if at ``at``: services stamp events with the real clock, and the demo
        replays the past, so the events the call wrote are moved to ``at``."""
        mark = CaseEvent.objects.aggregate(last=Max("pk"))["last"] or 0
        result = service(*args, **kwargs)
        CaseEvent.objects.filter(pk__gt=mark).update(at=at)
        return result

    def _touch(self) -> None:
        """Last-updated and last-seen times from the replayed history, not the loading clock."""
        last_event = CaseEvent.objects.filter(case=OuterRef("pk")).order_by("-at").values("at")
        Case.objects.filter(pk__in=[c.pk for _, c in self.cases]).update(
            updated_at=Subquery(last_event[:1])
        )
        last_post = Post.objects.filter(author=OuterRef("pk")).order_by("-posted_at")
        SocialIdentity.objects.filter(pk__in=[i.pk for i in self.identities.values()]).update(
            last_seen_at=Coalesce(Subquery(last_post.values("posted_at")[:1]), F("last_seen_at"))
        )

    def _counts(self) -> dict[str, Any]:
        cases = Case.objects.filter(pk__in=[c.pk for _, c in self.cases])
        statuses = Counter(cases.values_list("status", flat=True))
        return {
            "created": True,
            "channels": len(self.channels),
            "teams": len(self.teams),
            "agents": len(self.agents),
            "sla_policies": len(SLA_POLICIES),
            "reply_templates": len(self.templates),
            "customers": len(self.customers),
            "identities": len(self.identities),
            "unresolved_identities": len(UNRESOLVED),
            "cases": len(self.cases),
            "cases_by_status": {status: statuses[status] for status in S.values},
            "overdue_cases": cases.overdue(self.now).count(),
            "cases_by_sla": {
                state: cases.filter(sla_state_filter(state, self.now)).count()
                for state, _ in SLA_STATES
            },
            "posts": self.posts,
            "events": CaseEvent.objects.filter(case__in=cases).count(),
        }

    def _token(self, length: int, alphabet: str = string.ascii_letters + string.digits) -> str:
        return "".join(self.rng.choice(alphabet) for _ in range(length))


def _kind(case: Case, *, inbound: bool, reply: bool) -> str:
    """The post kind a platform (or ``send_reply``, for the brand) uses for a message in this case."""
    platform = case.channel.platform
    if platform == "email":
        return Post.Kind.EMAIL
    if case.visibility == Visibility.PRIVATE:
        return Post.Kind.DIRECT_MESSAGE
    if inbound and platform in ("facebook", "instagram"):
        return Post.Kind.COMMENT  # Meta calls answers in a comment thread comments too
    return Post.Kind.REPLY if reply else Post.Kind.MENTION


def _subject(text: str) -> str:
    """An email's first line; otherwise the post's start without leading @mentions."""
    line = text.strip().splitlines()[0]
    words = line.split()
    while words and words[0].startswith("@"):
        words.pop(0)
    subject = " ".join(words)
    if len(subject) <= 80:
        return subject
    return subject[:80].rsplit(" ", 1)[0] + "…"


def _profile_url(platform: str, handle: str, external_id: str) -> str:
    match platform:
        case "x":
            return f"https://x.com/{handle}"
        case "instagram":
            return f"https://www.instagram.com/{handle}/"
        case "mastodon":
            user, _, server = handle.partition("@")
            return f"https://{server}/@{user}"
        case "bluesky":
            return f"https://bsky.app/profile/{handle}"
        case "facebook" if external_id:
            return f"https://www.facebook.com/{external_id}"
        case _:
            return ""


def _base32_sortable(value: int, length: int = 13) -> str:
    alphabet = "234567abcdefghijklmnopqrstuvwxyz"
    chars = []
    for _ in range(length):
        value, digit = divmod(value, 32)
        chars.append(alphabet[digit])
    return "".join(reversed(chars))
