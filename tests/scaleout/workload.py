"""The scale-out test's traffic: signed real-format deliveries with a known answer.

Posts are made by ``socialcare.simulator``'s builders (the platforms' wire formats, signed with
each channel's secret). Every conversation has its own customers (the simulator's crowd: distinct
people), so the right result is known whatever order the deliveries are processed in:

* a public thread: a customer's post, their follow-ups in it, and maybe another customer's
  "same here" reply -> one case per customer;
* a private conversation: one to four direct messages -> one case.

The deliveries: every post once on its own, some deliveries sent again byte for byte (a platform
retrying), and combined deliveries carrying two posts that also travel alone (the same post in
different deliveries). They are sent in roughly the order they were written, shuffled within
small windows as concurrent senders and platform retries would.
"""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from socialcare.simulator import (
    META_SIGNATURE_HEADER,
    X_SIGNATURE_HEADER,
    Persona,
    SimPost,
    Simulator,
    Target,
    crowd_member,
    meta_signature,
    x_signature,
)
from socialcare.simulator import _Draft as Draft
from socialcare.simulator import _meta_sha1 as meta_sha1
from socialcare.simulator import _Ref as Ref

#: Texts in the customers' own words; the simulator's pool keeps them realistic elsewhere, here a
#: numbered text makes every post easy to find.
OPENERS = (
    "My order #{n} never arrived and nobody answers",
    "The app logs me out every time I open it ({n})",
    "Charged twice for the same subscription, ref {n}",
    "Where is my refund? Ticket {n}",
)
FOLLOW_UPS = ("Any news? ({n})", "Still waiting here ({n})", "Hello?? ({n})")
ME_TOO = ("Same here! ({n})", "Exactly the same problem for me ({n})")
PRIVATE = ("Can you check my account please? ({n})", "Here is my order number: {n}")


@dataclass(frozen=True)
class Delivery:
    target: Target
    body: bytes
    headers: dict[str, str]
    posts: tuple[str, ...]  # external ids carried
    kind: str  # single | resend | combined


@dataclass
class Workload:
    deliveries: list[Delivery] = field(default_factory=list)
    posts: dict[str, SimPost] = field(default_factory=dict)  # external id -> post
    #: customer key -> the external ids of their posts (one case each, all posts on it)
    customers: dict[str, list[str]] = field(default_factory=dict)
    #: the first post of each public thread: where agents reply
    roots: list[SimPost] = field(default_factory=list)

    @property
    def expected_cases(self) -> int:
        return len(self.customers)


class Builder:
    """Makes posts with the simulator's per-platform builders and remembers who wrote what."""

    def __init__(self, targets: Sequence[Target], seed: int) -> None:
        self.sim = Simulator(targets, seed=seed)
        self.rng = random.Random(seed)
        self.targets = list(targets)
        self.crowd = 0
        self.serial = 0
        self.workload = Workload()

    def person(self) -> Persona:
        self.crowd += 1
        return crowd_member(10_000 + self.crowd)

    def text(self, choices: Sequence[str]) -> str:
        self.serial += 1
        return self.rng.choice(choices).format(n=self.serial)

    def build(self, target: Target, draft: Draft) -> tuple[SimPost, Ref]:
        maker = {"x": self.sim._x, "facebook": self.sim._facebook, "instagram": self.sim._instagram}
        post, data = maker[target.platform](target, draft)
        self.workload.posts[post.external_id] = post
        self.workload.customers.setdefault(draft.persona.key, []).append(post.external_id)
        return post, Ref(target, draft.persona, draft.private, draft.category, data)

    def thread(self, target: Target) -> list[SimPost]:
        author = self.person()
        root, ref = self.build(target, Draft(author, False, self.text(OPENERS), "complaint"))
        self.workload.roots.append(root)
        posts = [root]
        while self.rng.random() < 0.55 and len(posts) < 5:
            post, ref = self.build(
                target, Draft(author, False, self.text(FOLLOW_UPS), "follow_up", parent=ref)
            )
            posts.append(post)
        if self.rng.random() < 0.25:
            other = self.person()
            post, _ = self.build(
                target, Draft(other, False, self.text(ME_TOO), "me_too", parent=ref)
            )
            posts.append(post)
        return posts

    def conversation(self, target: Target) -> list[SimPost]:
        author = self.person()
        posts, ref = [], None
        for _ in range(self.rng.randint(1, 4)):
            post, ref = self.build(
                target, Draft(author, True, self.text(PRIVATE), "private", parent=ref)
            )
            posts.append(post)
        return posts


def combine(target: Target, posts: Sequence[SimPost]) -> tuple[bytes, dict[str, str]]:
    """One signed delivery carrying the events of ``posts`` (same channel, same kind of event)."""
    payloads = [json.loads(p.body) for p in posts]
    merged: dict[str, Any] = payloads[0]
    if target.platform == "x":
        merged["tweet_create_events"] = [e for p in payloads for e in p["tweet_create_events"]]
        body = json.dumps(merged, ensure_ascii=False, separators=(",", ":")).encode()
        return body, {
            "Content-Type": "application/json; charset=utf-8",
            X_SIGNATURE_HEADER: x_signature(body, target.secret),
        }
    merged["entry"] = [e for p in payloads for e in p["entry"]]
    body = json.dumps(merged, ensure_ascii=True, separators=(",", ":")).encode("ascii")
    return body, {
        "Content-Type": "application/json",
        "X-Hub-Signature": meta_sha1(body, target.secret),
        META_SIGNATURE_HEADER: meta_signature(body, target.secret),
    }


def build(
    targets: Sequence[Target], *, deliveries: int = 5000, seed: int = 8, window: int = 40
) -> Workload:
    """``deliveries`` deliveries: about 76 % single posts, 12 % byte-for-byte re-sends and 12 %
    combined deliveries of two posts that are also sent alone."""
    builder = Builder(targets, seed)
    rng = builder.rng
    weights = [{"x": 3, "facebook": 2, "instagram": 2}[t.platform] for t in targets]  # per channel
    singles = round(deliveries * 0.76)
    order: list[SimPost] = []
    while len(order) < singles:
        target = rng.choices(targets, weights)[0]
        made = builder.conversation(target) if rng.random() < 0.3 else builder.thread(target)
        order.extend(made[: singles - len(order)])
    # A thread cut short by the count keeps only what was sent.
    sent = {p.external_id for p in order}
    work = builder.workload
    work.posts = {k: v for k, v in work.posts.items() if k in sent}
    work.customers = {
        k: [i for i in ids if i in sent] for k, ids in work.customers.items() if ids[0] in sent
    }
    work.roots = [p for p in work.roots if p.external_id in sent]

    stream = [
        Delivery(p.target, p.body, dict(p.headers), (p.external_id,), "single") for p in order
    ]
    extra = deliveries - len(stream)
    resends = extra // 2
    for original in rng.sample(stream, resends):
        stream.append(
            Delivery(original.target, original.body, original.headers, original.posts, "resend")
        )
    combinable = [
        p for p in order if not (p.visibility == "private" and p.target.platform == "x")
    ]  # X direct messages carry a users map per event; tweets and Meta entries merge cleanly
    by_kind: dict[tuple[int, str], list[SimPost]] = {}
    for post in combinable:
        by_kind.setdefault((post.target.channel_id, post.visibility), []).append(post)
    groups = [g for g in by_kind.values() if len(g) >= 2]
    while len(stream) < deliveries:
        group = rng.choice(groups)
        start = rng.randrange(len(group) - 1)
        pair = group[start : start + 2]
        body, headers = combine(pair[0].target, pair)
        stream.append(
            Delivery(pair[0].target, body, headers, tuple(p.external_id for p in pair), "combined")
        )
    # Re-sends and combined deliveries go out near their originals' time; then a light shuffle.
    position = {d.posts[0]: i for i, d in enumerate(stream) if d.kind == "single"}
    stream.sort(
        key=lambda d: position[d.posts[0]] + (rng.randint(1, window) if d.kind != "single" else 0)
    )
    for start in range(0, len(stream), window):
        chunk = stream[start : start + window]
        rng.shuffle(chunk)
        stream[start : start + window] = chunk
    work.deliveries = stream
    return work
