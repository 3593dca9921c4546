"""Re-draw the labelled sentiment evaluation set (bench/data/sentiment/) from its public source.

    python -m bench.sentiment_sample --mirror PATH [--nsmc PATH] [--per-label 16]

``--mirror`` is a git clone (or bare mirror) of https://github.com/cardiffnlp/xlm-t: its UMSAB
benchmark (data/sentiment/<language>/test_text.txt + test_labels.txt; labels 0 negative,
1 neutral, 2 positive). From each language's **test** split it keeps posts of 15–280 characters,
drops duplicates, orders them by SHA-1 of ``language + text`` and takes the first ``per_label``
of each label: the same sample on every run, balanced, and never drawn from the train/val splits
the default scorer learned from (bench/sentiment_train.py).

``--nsmc`` is a clone of https://github.com/e9t/nsmc (Naver movie reviews in Korean, CC0): from
the crawled reviews of ``raw/`` (the first ``NSMC_FILES`` files by name) with the rating their
writer gave, labelled as NSMC's README describes its classes: 1–4 negative, 5–8 neutral (the
reviews NSMC leaves out), 9–10 positive; then the same length filter, order and count.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
from pathlib import Path

from bench.context import REPO

#: UMSAB folder -> the language code socialcare stores on posts.
LANGUAGES = {
    "arabic": "ar",
    "english": "en",
    "french": "fr",
    "german": "de",
    "hindi": "hi",
    "italian": "it",
    "portuguese": "pt",
    "spanish": "es",
}
LABELS = {"0": "negative", "1": "neutral", "2": "positive"}
OUT = REPO / "bench" / "data" / "sentiment" / "umsab_test_sample.tsv"
NSMC_OUT = REPO / "bench" / "data" / "sentiment" / "nsmc_ko_sample.tsv"
NSMC_FILES = 400


def read_split(mirror: Path, folder: str, split: str) -> list[tuple[str, str]]:
    """(label word, text) of one split of one language, in file order."""

    def show(name: str) -> list[str]:
        path = f"data/sentiment/{folder}/{split}_{name}.txt"
        if (mirror / path).exists():
            return (mirror / path).read_text(encoding="utf-8").splitlines()
        out = subprocess.run(
            ["git", "--git-dir", str(_git_dir(mirror)), "show", f"HEAD:{path}"],
            check=True,
            capture_output=True,
        ).stdout
        return out.decode("utf-8").splitlines()

    texts, labels = show("text"), show("labels")
    if len(texts) != len(labels):
        raise ValueError(f"{folder}/{split}: {len(texts)} texts but {len(labels)} labels")
    return [(LABELS[label.strip()], clean(text)) for text, label in zip(texts, labels, strict=True)]


def _git_dir(mirror: Path) -> Path:
    return mirror / ".git" if (mirror / ".git").exists() else mirror


def clean(text: str) -> str:
    return " ".join(text.replace("\t", " ").split())


def draw(mirror: Path, per_label: int) -> list[tuple[str, str, str]]:
    """(language, label, text) rows: per language, ``per_label`` of each label."""
    rows = []
    for folder, code in LANGUAGES.items():
        seen: set[str] = set()
        candidates = []
        for label, text in read_split(mirror, folder, "test"):
            if 15 <= len(text) <= 280 and text not in seen:
                seen.add(text)
                candidates.append((hashlib.sha1(f"{code}{text}".encode()).hexdigest(), label, text))
        candidates.sort()
        for label in LABELS.values():
            picked = [(code, lab, text) for _, lab, text in candidates if lab == label]
            if len(picked) < per_label:
                raise ValueError(f"{folder}: only {len(picked)} {label} posts")
            rows += picked[:per_label]
    return rows


def nsmc_reviews(mirror: Path, files: int = NSMC_FILES) -> list[tuple[str, str]]:
    """(label word, text) of the reviews in the first ``files`` files of NSMC's raw/."""
    git = ["git", "--git-dir", str(_git_dir(mirror))]
    names = subprocess.run(
        [*git, "ls-tree", "--name-only", "HEAD", "raw/"], check=True, capture_output=True
    ).stdout.decode()
    wanted = sorted(n for n in names.split() if n.endswith(".json"))[:files]
    batch = subprocess.run(
        [*git, "cat-file", "--batch"],
        input="".join(f"HEAD:{name}\n" for name in wanted).encode(),
        check=True,
        capture_output=True,
    ).stdout
    reviews, offset = [], 0
    while offset < len(batch):
        header_end = batch.index(b"\n", offset)
        size = int(batch[offset:header_end].split()[2])
        body = batch[header_end + 1 : header_end + 1 + size]
        offset = header_end + 1 + size + 1
        for review in json.loads(body):
            rating = int(review["rating"])
            label = "negative" if rating <= 4 else "positive" if rating >= 9 else "neutral"
            reviews.append((label, clean(review["review"])))
    return reviews


def draw_nsmc(mirror: Path, per_label: int) -> list[tuple[str, str, str]]:
    candidates, seen = [], set()
    for label, text in nsmc_reviews(mirror):
        if 15 <= len(text) <= 280 and text not in seen:
            seen.add(text)
            candidates.append((hashlib.sha1(f"ko{text}".encode()).hexdigest(), label, text))
    candidates.sort()
    rows = []
    for label in LABELS.values():
        picked = [("ko", lab, text) for _, lab, text in candidates if lab == label]
        if len(picked) < per_label:
            raise ValueError(f"nsmc: only {len(picked)} {label} reviews")
        rows += picked[:per_label]
    return rows


def write(rows: list[tuple[str, str, str]], path: Path = OUT) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = ["language\tlabel\ttext"] + ["\t".join(row) for row in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--mirror", required=True, type=Path, help="clone of cardiffnlp/xlm-t")
    parser.add_argument("--nsmc", type=Path, help="clone of e9t/nsmc (Korean)")
    parser.add_argument("--per-label", type=int, default=16)
    args = parser.parse_args(argv)
    rows = draw(args.mirror, args.per_label)
    write(rows)
    print(f"{len(rows)} posts -> {OUT.relative_to(REPO)}")
    if args.nsmc:
        rows = draw_nsmc(args.nsmc, args.per_label)
        write(rows, NSMC_OUT)
        print(f"{len(rows)} posts -> {NSMC_OUT.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
