"""Sentiment scorers (socialcare.sentiment): the SENTIMENT_BACKEND setting switches what ingest
and every other caller uses, a bad path is a start-up error (socialcare.E009), and the default
reads complaints outside English, measured on the labelled evaluation set of bench/."""

from __future__ import annotations

import pytest

from bench.sentiment import DEFAULT, VADER, evaluate, label_of, load_set
from socialcare import scoring
from socialcare.checks import check_settings
from socialcare.models import Post, WebhookDelivery
from socialcare.sentiment import get_backend
from socialcare.sentiment.base import BaseSentimentBackend, SentimentBackend, base_language
from socialcare.services.deliveries import accept_delivery
from socialcare.services.ingest import process_delivery
from tests.ingest_helpers import channel_for, fixture_bytes, make_channels

BREACH = "data breach? I just got a password reset I never asked for"


class Recording(BaseSentimentBackend):
    """A host's scorer: says -0.9 to everything and remembers what it was asked."""

    calls: list[tuple[str, str]] = []

    def score(self, text: str, language: str = "") -> float:
        Recording.calls.append((text, language))
        return -0.9


class Cheerful:
    """A scorer that does not subclass the base: only ``score`` is needed."""

    def score(self, text: str, language: str = "") -> float:
        return 0.8


class Broken(BaseSentimentBackend):
    def score(self, text: str, language: str = "") -> float:
        raise RuntimeError("model server down")


class NotANumber(BaseSentimentBackend):
    def score(self, text: str, language: str = "") -> float:
        return float("nan")


class Loud(BaseSentimentBackend):
    def score(self, text: str, language: str = "") -> float:
        return -7.25


class NeedsArguments(BaseSentimentBackend):
    def __init__(self, url: str) -> None:
        self.url = url


class NoScore:
    pass


def path(cls: type) -> str:
    return f"{__name__}.{cls.__name__}"


def ingest(name: str) -> Post:
    channels = make_channels()
    delivery = accept_delivery(channel_for(channels, name), fixture_bytes(name), {}, queue=False)
    assert process_delivery(delivery.pk).status == WebhookDelivery.Status.PROCESSED
    return Post.objects.get(external_id="1332975772104323072")


@pytest.mark.django_db
def test_the_backend_setting_switches_the_scorer_ingest_uses(socialcare_settings):
    Recording.calls.clear()
    with socialcare_settings(SENTIMENT_BACKEND=path(Recording)):
        post = ingest("x/tweet_create_extended.json")
    assert post.sentiment == -0.9
    # X says the tweet is English: ingest passes the post's language to the scorer.
    assert Recording.calls == [(post.text, "en")]
    assert post.case.priority in ("high", "urgent")


@pytest.mark.django_db
def test_a_cheerful_backend_makes_the_same_angry_tweet_positive_and_not_urgent(
    socialcare_settings,
):
    with socialcare_settings(SENTIMENT_BACKEND=path(Cheerful)):
        post = ingest("x/tweet_create_extended.json")
    assert post.sentiment == 0.8
    assert post.case.priority not in ("high", "urgent")


def test_get_backend_follows_the_setting(socialcare_settings):
    with socialcare_settings(SENTIMENT_BACKEND=path(Cheerful)):
        assert isinstance(get_backend(), Cheerful)
        assert isinstance(get_backend(), SentimentBackend) is False  # no score_many: still fine
        assert scoring.sentiment("anything") == 0.8
    assert type(get_backend()).__name__ == "MultilingualSentiment"


@pytest.mark.parametrize(
    ("cls", "expected"),
    [(Broken, 0.0), (NotANumber, 0.0), (Loud, -1.0)],
)
def test_a_failing_or_wild_backend_never_fails_the_caller(socialcare_settings, cls, expected):
    with socialcare_settings(SENTIMENT_BACKEND=path(cls)):
        assert scoring.sentiment("the app crashes every time") == expected


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("value", "says"),
    [
        ("tests.test_sentiment.DoesNotExist", "does not import"),
        ("no_such_package.Scorer", "does not import"),
        (path(NeedsArguments), "no arguments"),
        (path(NoScore), "no score("),
        ("", "dotted path"),
    ],
)
def test_a_bad_backend_path_is_a_system_check_error(socialcare_settings, value, says):
    with socialcare_settings(SENTIMENT_BACKEND=value):
        messages = [m for m in check_settings() if m.id == "socialcare.E009"]
        assert len(messages) == 1
        assert says in messages[0].msg
        assert "SENTIMENT_BACKEND" in messages[0].hint
        # The caller still gets a number.
        assert scoring.sentiment("late again") == 0.0
    assert [m for m in check_settings() if m.id == "socialcare.E009"] == []


@pytest.mark.django_db
def test_custom_and_builtin_backends_pass_the_check(socialcare_settings):
    for value in (path(Recording), path(Cheerful), VADER, DEFAULT):
        with socialcare_settings(SENTIMENT_BACKEND=value):
            assert [m for m in check_settings() if m.id == "socialcare.E009"] == []


@pytest.mark.parametrize("text", ["", "   ", "\n\t"])
@pytest.mark.parametrize("backend", [DEFAULT, VADER])
def test_empty_text_is_zero(socialcare_settings, text, backend):
    with socialcare_settings(SENTIMENT_BACKEND=backend):
        assert scoring.sentiment(text) == 0.0
        assert scoring.sentiment(text, language="ja") == 0.0


@pytest.mark.parametrize("language", ["en", "en-GB", ""])
def test_the_default_reads_the_breach_sentence_as_negative(language):
    assert scoring.sentiment(BREACH, language=language) <= -0.3


def test_vader_alone_missed_the_breach_sentence(socialcare_settings):
    with socialcare_settings(SENTIMENT_BACKEND=VADER):
        assert scoring.sentiment(BREACH, language="en") == 0.0


#: Complaints labelled negative in the evaluation set (bench/data/sentiment, UMSAB test split),
#: which VADER scores 0.0.
COMPLAINTS = [
    (
        "de",
        "RT @user: Öhm, ich hab' Dank dem neuen #Update jetzt gar keinen Überblick mehr. "
        "Scheiß Linie da!",
    ),
    ("es", "Como destrozaba el puto movil ahora mismo"),
    ("pt", "Não acredito que vou ter que esperar... #FicaVitorB #MasterChefBR"),
    (
        "fr",
        "Ça va être compliqué le réchauffement climatique, vu comment on geint passés 30 degrés",
    ),
    ("ar", "انا ايه اللي خلاني اتعلم اللغة الفرنسية و انا مش هسافر فرنسا اصلاً"),
]


@pytest.mark.parametrize(("language", "text"), COMPLAINTS)
def test_the_default_reads_complaints_in_other_languages_as_negative(
    socialcare_settings, language, text
):
    assert (language, "negative", text) in load_set(), "not a labelled post of the evaluation set"
    assert scoring.sentiment(text, language=language) <= -0.3
    with socialcare_settings(SENTIMENT_BACKEND=VADER):
        assert scoring.sentiment(text, language=language) == 0.0


def test_the_default_keeps_english_praise_positive():
    assert scoring.sentiment("Thank you so much, the support team was amazing!", "en") >= 0.5


def test_scores_stay_in_range_and_are_rounded():
    for language, _, text in load_set()[::7]:
        value = scoring.sentiment(text, language=language)
        assert -1.0 <= value <= 1.0
        assert value == round(value, 3)


def test_the_evaluation_set_is_big_balanced_and_multilingual():
    rows = load_set()
    languages = {lang for lang, _, _ in rows}
    assert len(rows) >= 300 and len(languages) >= 8
    for lang in languages:
        labels = [label for row_lang, label, _ in rows if row_lang == lang]
        assert {labels.count(x) for x in ("negative", "neutral", "positive")} == {len(labels) // 3}


def test_the_default_beats_vader_on_the_evaluation_set_in_every_language():
    results = evaluate()
    vader, default = results["VADER"], results["default"]
    assert default["overall"] >= vader["overall"] + 0.10
    for lang, share in default["languages"].items():
        assert share >= vader["languages"][lang], lang


def test_three_class_cut_offs():
    assert [label_of(s) for s in (-0.3, -0.29, 0.0, 0.29, 0.3)] == [
        "negative",
        "neutral",
        "neutral",
        "neutral",
        "positive",
    ]


def test_base_language():
    assert [base_language(x) for x in ("pt-BR", "EN", "zh_Hant", "")] == ["pt", "en", "zh", ""]
