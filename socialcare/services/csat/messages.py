"""The survey's words, in the customer's language where we have them, and its signed link."""

from __future__ import annotations

from django.core import signing
from django.urls import reverse

from socialcare.conf import app_settings
from socialcare.exceptions import SocialCareError

LINK_SALT = "socialcare.csat.link"

QUESTIONS: dict[str, str] = {
    "en": "How did we do? Reply with a number from 1 (very bad) to 5 (excellent).",
    "fr": "Comment avons-nous fait ? Répondez par un chiffre de 1 (très mauvais) à 5 (excellent).",
    "de": "Wie zufrieden sind Sie? Antworten Sie mit einer Zahl von 1 (sehr schlecht) bis 5 "
    "(ausgezeichnet).",
    "es": "¿Qué tal lo hicimos? Responda con un número del 1 (muy mal) al 5 (excelente).",
    "it": "Come siamo andati? Rispondi con un numero da 1 (molto male) a 5 (eccellente).",
    "pt": "Como nos saímos? Responda com um número de 1 (muito mal) a 5 (excelente).",
}
LINK_INVITES: dict[str, str] = {
    "en": "How did we do? Tell us in one click: {url}",
    "fr": "Comment avons-nous fait ? Dites-le-nous en un clic : {url}",
    "de": "Wie zufrieden sind Sie? Sagen Sie es uns mit einem Klick: {url}",
    "es": "¿Qué tal lo hicimos? Díganoslo con un clic: {url}",
    "it": "Come siamo andati? Diccelo con un clic: {url}",
    "pt": "Como nos saímos? Diga-nos com um clique: {url}",
}


def language_of(code: str) -> str:
    """The survey language for a post's language code ("fr-CA" -> "fr"; unknown -> "en")."""
    code = (code or "").split("-")[0].lower()
    return code if code in QUESTIONS else "en"


def question(language: str) -> str:
    return QUESTIONS[language_of(language)]


def link_token(survey_id: int) -> str:
    return signing.dumps({"s": survey_id}, salt=LINK_SALT, compress=True)


def read_token(token: str) -> int:
    """The survey id a link names. Raises ``signing.SignatureExpired`` when the link is older
    than ``CSAT_LINK_MAX_AGE`` and ``signing.BadSignature`` when it was not made here."""
    max_age = app_settings.CSAT_LINK_MAX_AGE
    data = signing.loads(token, salt=LINK_SALT, max_age=max_age)
    if not isinstance(data, dict) or not isinstance(data.get("s"), int):
        raise signing.BadSignature("Not a survey link.")
    return data["s"]


def link_url(survey_id: int) -> str:
    """The absolute address of a survey's page (``CSAT_LINK_BASE_URL`` + the page's path)."""
    base = str(app_settings.CSAT_LINK_BASE_URL or "").rstrip("/")
    if not base:
        raise SocialCareError(
            "SOCIALCARE['CSAT_LINK_BASE_URL'] is not set, so no survey link can be made."
        )
    return base + reverse("socialcare:csat", args=[link_token(survey_id)])


def link_invite(survey_id: int, language: str) -> str:
    return LINK_INVITES[language_of(language)].format(url=link_url(survey_id))
