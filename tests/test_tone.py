"""The tone check: each rule fires on the text it is about and stays quiet otherwise."""

from __future__ import annotations

import pytest

from socialcare.services.tone import NEGATIVE_SENTIMENT, ToneWarning, tone_warnings

GOOD = "Thanks for telling us, Ada. We'll DM you a new tracking link within the hour."
SORRY_GOOD = "Sorry about the delay, and thank you for your patience. We'll email you by tomorrow."


def codes(text: str, **kwargs) -> list[str]:
    return [w.code for w in tone_warnings(text, **kwargs)]


def test_a_good_reply_has_no_warnings():
    assert tone_warnings(GOOD) == []
    assert tone_warnings(SORRY_GOOD, sentiment=-0.8) == []


def test_warnings_are_code_and_message():
    [warning] = tone_warnings("We'll DM you the details.")
    assert isinstance(warning, ToneWarning)
    assert warning.code == "no_thanks"
    assert "Thank" in warning.message
    assert warning.as_dict() == {"code": "no_thanks", "message": warning.message}


@pytest.mark.parametrize(
    "text",
    ["Thanks, we'll DM you.", "Thank you! We'll DM you.", "We appreciate it and will DM you."],
)
def test_thanks_in_several_forms_count(text):
    assert "no_thanks" not in codes(text)


def test_no_thanks_fires_on_a_public_reply_without_thanks():
    assert codes("We'll look into it and DM you.") == ["no_thanks"]


def test_apology_is_needed_only_when_the_customer_is_upset():
    text = "Thanks for the details, we'll DM you."
    assert codes(text, sentiment=-0.6) == ["no_apology"]
    assert codes(text, sentiment=NEGATIVE_SENTIMENT) == ["no_apology"]
    assert codes(text, sentiment=0.4) == []
    assert codes(text, sentiment=None) == []
    assert codes("Sorry! Thanks for the details, we'll DM you.", sentiment=-0.6) == []
    assert codes("We apologise. Thanks for the details, we'll DM you.", sentiment=-0.6) == []


@pytest.mark.parametrize(
    "text",
    [
        "Thanks! Let us know your order number.",
        "Thanks! Could you send us a screenshot?",
        "Thanks, tracking is here: https://acme.example/track/1",
        "Thanks, please check your inbox.",
        "Thanks, I'll follow up by Monday.",
    ],
)
def test_a_next_step_in_several_forms_counts(text):
    assert "no_next_step" not in codes(text)


def test_no_next_step_fires_when_nothing_says_what_happens_next():
    assert codes("Thanks for writing to us, that is good to hear.") == ["no_next_step"]


@pytest.mark.parametrize(
    ("text", "phrase"),
    [
        ("Thanks. As I said, we'll DM you.", "As I said"),
        ("Thanks. It's our policy, we'll DM you.", "policy"),
        ("Thanks. You should have checked the date. We'll DM you.", "You should have"),
        ("Thanks, but this is not our fault. We'll DM you.", "not our fault"),
        ("Thanks, please calm down. We'll DM you.", "calm down"),
    ],
)
def test_defensive_phrases_are_quoted(text, phrase):
    warnings = {w.code: w.message for w in tone_warnings(text)}
    assert list(warnings) == ["defensive"]
    assert phrase in warnings["defensive"]


def test_shouting_fires_on_caps_runs_not_on_acronyms():
    assert "shouting" in codes("Thanks. WE ARE WORKING ON IT, we'll DM you.")
    assert "shouting" in codes("THANKS FOR NOTHING, WE'LL DM YOU.")
    assert "shouting" not in codes("Thanks! Please DM us via the FAQ page or ASAP, we'll reply.")
    assert "shouting" not in codes("Thanks, UPS has it. We'll DM you.")


def test_private_replies_only_get_defensiveness_and_shouting():
    assert codes("ok", visibility="private") == []
    assert codes("Here is the refund.", sentiment=-0.9, visibility="private") == []
    assert codes("As I said, here is the refund.", visibility="private") == ["defensive"]
    assert codes("HERE IS THE REFUND NOW", visibility="private") == ["shouting"]


def test_non_latin_scripts_get_no_warnings():
    assert tone_warnings("Спасибо, мы напишем вам в личные сообщения.", sentiment=-0.9) == []
    assert tone_warnings("ご連絡ありがとうございます。担当者から連絡します。") == []
    assert tone_warnings("شكرا لتواصلك معنا") == []


def test_latin_text_that_is_not_english_only_gets_shouting():
    assert tone_warnings("Wir melden uns morgen bei Ihnen.", sentiment=-0.9) == []
    assert tone_warnings("Lo revisamos y le escribimos hoy.", sentiment=-0.9) == []
    assert codes("WIR MELDEN UNS MORGEN") == ["shouting"]


def test_thanks_and_apology_words_of_other_languages_count_in_mixed_text():
    text = "Danke! Entschuldigung for the wait, we'll email you tomorrow."
    assert tone_warnings(text, sentiment=-0.9) == []


def test_empty_text_has_no_warnings():
    assert tone_warnings("") == []
    assert tone_warnings("   ") == []
