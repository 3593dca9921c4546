"""The demo's tables: Acme's brand accounts, teams, SLA policies, reply templates and customers.

Plain data; ``loader`` turns it into rows through the services.
"""

from __future__ import annotations

from socialcare.models import Case, Priority

#: The channel whose presence means the demo data is already loaded.
MARKER_CHANNEL = "Acme on X"
SEED = 20240611

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
    # Susie (a Facebook commenter, PSID space) writing on Instagram Direct (IGSID space): another
    # identity, with a "same name" suggestion for the agent to link (docs/ingestion.md).
    "susie_ig": ("instagram", "susie.avellanosa", "Susie Avellanosa", None, False, ""),
}
