"""``Simulator``: the stream of posts (new ones, follow-ups in threads, "same here" answers, a
spike), each built in its platform's wire format by the payload mixins."""

from __future__ import annotations

import random
import time
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

from socialcare.simulator.crowd import (
    _CATEGORIES,
    POOL,
    SPIKE_TEXTS,
    TEXTS,
    _fill,
    _weighted,
    crowd_member,
)
from socialcare.simulator.polled_payloads import PolledPayloads
from socialcare.simulator.targets import SimPost, Target, _Draft, _Ref
from socialcare.simulator.webhook_payloads import WebhookPayloads

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


# The generator --------------------------------------------------------------------------------------
class Simulator(WebhookPayloads, PolledPayloads):
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
