"""X's weighted length (``socialcare.platforms.x_text``) against cases of twitter-text's
conformance suite (https://github.com/twitter/twitter-text, ``conformance/validate.yml``:
WeightedTweetsWithDiscountedEmojiCounterTest and UnicodeDirectionalMarkerCounterTest, the
configuration X uses today, v3). Long inputs are built the way the suite spells them out."""

from __future__ import annotations

import pytest

from socialcare.platforms.x_text import MAX_WEIGHTED_LENGTH, url_spans, weighted_length

KANA = "あいうえおかきくけこ"
FAMILY = "\U0001f468\u200d\U0001f469\u200d\U0001f467\u200d\U0001f466"
X_RUN = "xxxxxxxxxx-"
POEM = (
    "故人西辞黄鹤楼，烟花三月下扬州。孤帆远影碧空尽，唯见长江天际流。朱雀桥边野草花，乌衣巷口夕阳斜。"
    "旧时王谢堂前燕，飞入寻常百姓家。朝辞白帝彩云间，千里江陵一日还。两岸猿声啼不住，轻舟已过万重山。"
    "泪湿罗巾梦不成，夜深前殿按歌声。红颜未老恩先断，斜倚薰笼坐到明。独在异乡为异客，每逢佳节倍思亲。"
    "遥知兄弟登高处，遍插茱萸少一人。"
)

CONFORMANCE = [
    ("Regular Tweet with url", "Hi http://test.co", 26),
    ("Just url", "http://test.co", 23),
    ("Long tweet, overflow at char index 280", "285 chars-" + X_RUN * 25, 285),
    (
        "Long tweet with url in the middle",
        "285 chars- http://www.twitter.com/jack " + X_RUN * 24,
        299,
    ),
    ("Long tweet with url at the end", X_RUN * 24 + " http://www.twitter.com/jack ", 289),
    ("10 url string, no overflow", "https://www.twitter.com/aloha " * 10, 240),
    ("160 CJK char", POEM, 320),
    ("160 emoji char", "\U0001f637" * 160, 320),
    ("3 latin char + 160 CJK char", "the" + POEM, 323),
    ("Latin accent at the edge", "282 chars-" + X_RUN * 24 + "xxxxx\u00c1x", 281),
    ("Single and double word characters", "H\U0001f431\u263a" + FAMILY, 7),
    ("Emoji inside the basic multilingual plane", "😷👾😡🔥💩", 10),
    ("Skin tone modifiers and ZWJ outside the BMP", "🙋🏽👨\u200d🎤", 4),
    (
        "General punctuation with visible spaces, no ZWJ/ZWNJ",
        "This is a tweet with general punctuation characters: "
        "\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u200b "
        "‐ ‑ ‒ – — ― ‖  ‗ ‘ ’ ‚ ‛ “ ” „ ‟ ′ ″ ‴ ‵ ‶ ‷",
        110,
    ),
    (
        "A 64 character domain without protocol",
        "randomurlrandomurlrandomurlrandomurlrandomurlrandomurlrandomurls.com",
        68,
    ),
    (
        "CJK host over 63 punycode characters is no URL",
        KANA * 12 + " http://" + KANA * 5 + "あいう.com",
        358,
    ),
    (
        "CJK host under 63 punycode characters is a URL",
        KANA * 12 + " http://" + KANA * 5 + "あい.com",
        264,
    ),
    ("140 family emoji", FAMILY * 140, 280),
    ("Keycap without variation selector", "1\u20e3", 2),
    (
        "Unicode 10.0 emoji",
        "Unicode 10.0 emoji: 🤪; 🧕; 🧕🏾; 🏴\U000e0067\U000e0062\U000e0065\U000e006e\U000e0067\U000e007f",
        34,
    ),
    ("Unicode 9.0 emoji", "Unicode 9.0 emoji: 🤠; 💃; 💃🏾", 29),
    ("Directional markers and invalid characters", "ABC\u202a\uffffABC\ufffe", 12),
    (
        "Directional isolates around a URL with a Unicode TLD",
        "\u2066\u202ahttp://foobar.پاکستان/\u202c\u2069",
        31,
    ),
]


@pytest.mark.parametrize(
    ("text", "expected"), [case[1:] for case in CONFORMANCE], ids=[c[0] for c in CONFORMANCE]
)
def test_conformance(text, expected):
    assert weighted_length(text) == expected


def test_a_post_of_only_spaces_weighs_nothing():
    assert weighted_length(" \n\t ") == 0


def test_decomposed_accents_count_once_after_normalization():
    assert weighted_length("e\u0301" * 10) == 10  # NFC: "é" ten times


def test_a_copyright_sign_is_a_letter_unless_asked_to_be_an_emoji():
    assert weighted_length("\u00a9 2026") == 6
    assert weighted_length("\u00a9\ufe0f 2026") == 7


def test_links_without_protocol_and_their_limits():
    assert weighted_length("see example.com/help please") == len("see ") + 23 + len(" please")
    assert weighted_length("t.co/abc") == 23
    assert url_spans("mail me at x@example.com") == {}  # an address is no link
    assert url_spans("a.-example.com") == {}
    # a t.co link ends at its slug; a slug over 40 characters is no t.co link
    assert weighted_length("https://t.co/abc123/extra") == 23 + len("/extra")


def test_the_limit_is_280_weighted_characters():
    assert MAX_WEIGHTED_LENGTH == 280
    assert weighted_length("あ" * 140) == 280
    assert weighted_length("あ" * 141) == 282
