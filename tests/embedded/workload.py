"""The embedded-default test's traffic and what it asks the demo's processes.

Run inside ``manage.py shell`` (the demo's settings, its database):

* :func:`describe` prints, as one JSON line, the demo's webhook channels as the simulator sees
  them (``load_targets``: account ids and the secrets deliveries are signed with) and the
  settings the test's time bound is made of.
* :func:`make_holding_reply_automatic` does what an admin does in Social care › Playbooks: the
  product-defect playbook's holding reply runs by itself when its incident opens (the shipped
  playbooks install it manual).

Run in the test: :func:`burst` builds the out-of-order burst with the simulator's builders
(tests/scaleout/workload.py), and :class:`Sender` posts signed deliveries at a pace, from
several threads, recording every answer.
"""

from __future__ import annotations

import dataclasses
import json
import random
import threading
import time
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import httpx

from socialcare.simulator import Persona, SimPost, Target, crowd_member
from socialcare.simulator import _Draft as Draft
from tests.scaleout.workload import Builder, Delivery

#: The negative texts of the incident (the shipped "Negative surge" detector counts posts whose
#: sentiment is -0.3 or lower; these score -0.7 to -0.9 in English).
COMPLAINTS = (
    "Your checkout is broken again, payment declined three times. Terrible. ({n})",
    "Worst checkout ever, my card was declined and then charged. Awful service ({n})",
    "Checkout keeps failing with an error, I can't pay. So frustrating and useless ({n})",
)
FOLLOW_UPS = (
    "Still broken, this is terrible and useless ({n})",
    "Any news? Checkout still failing, awful service ({n})",
    "Hello?? Still broken, so frustrating and useless ({n})",
)
#: As the TLS-terminating proxy says.
FORWARDED = {"X-Forwarded-Proto": "https"}


# In manage.py shell ---------------------------------------------------------------------------
def describe() -> None:
    from django.conf import settings

    from socialcare.conf import DEFAULTS, app_settings
    from socialcare.simulator import load_targets

    targets, _ = load_targets(("x", "facebook", "instagram"), polled=False)
    lease = getattr(app_settings, "DELIVERY_LEASE", None) if "DELIVERY_LEASE" in DEFAULTS else None
    print(
        json.dumps(
            {
                "targets": [dataclasses.asdict(t) for t in targets],
                "lease_seconds": _seconds(lease),
                "stale_delivery_seconds": _seconds(app_settings.STALE_DELIVERY_AFTER),
                "broker_retry": settings.Q_CLUSTER["retry"],
            }
        )
    )


def _seconds(value: object) -> float | None:
    if value is None:
        return None
    return value.total_seconds() if hasattr(value, "total_seconds") else float(value)


def make_holding_reply_automatic() -> None:
    from socialcare.models import PlaybookStep, ReplyTemplate

    changed = PlaybookStep.objects.filter(
        playbook__slug="product-defect", kind="holding_reply"
    ).update(automatic=True)
    template = ReplyTemplate.objects.get(shortcut="defect-holding")
    print(json.dumps({"steps": changed, "template": template.text}))


# In the test ----------------------------------------------------------------------------------
def targets_from(described: dict) -> list[Target]:
    return [Target(**t) for t in described["targets"]]


def english_people(count: int, start: int) -> list[Persona]:
    """``count`` distinct people of the simulator's crowd who write in English (the detector's
    sentiment is scored in the post's language)."""
    people, index = [], start
    while len(people) < count:
        person = crowd_member(index)
        index += 1
        if person.lang == "en":
            people.append(person)
    return people


@dataclass
class Burst:
    #: The incident's opening wave: one complaint each from distinct customers, in order.
    wave: list[Delivery] = field(default_factory=list)
    #: The customers' threads, follow-ups first, then the original posts.
    out_of_order: list[Delivery] = field(default_factory=list)
    #: customer key -> (platform, external id) of their posts; all on one case in the end.
    customers: dict[str, list[tuple[str, str]]] = field(default_factory=dict)


def _delivery(post: SimPost) -> Delivery:
    return Delivery(post.target, post.body, dict(post.headers), (post.external_id,), "single")


def burst(
    targets: Sequence[Target], *, wave: int, customers: int, follow_ups: int, seed: int = 25
) -> Burst:
    """``wave`` complaints from distinct customers on the X channel (they open the incident),
    then ``customers`` public threads spread over every channel, each an original complaint and
    ``follow_ups`` replies by the same customer, sent follow-ups first."""
    builder = Builder(targets, seed)
    rng = random.Random(seed)
    result = Burst()
    x = next(t for t in targets if t.platform == "x")
    people = english_people(wave + customers, start=50_000)
    for n, person in enumerate(people[:wave]):
        post, _ = builder.build(x, Draft(person, False, COMPLAINTS[n % 3].format(n=n), "complaint"))
        result.wave.append(_delivery(post))
        result.customers[person.key] = [(x.platform, post.external_id)]
    firsts, laters = [], []
    for n, person in enumerate(people[wave:]):
        target = targets[n % len(targets)]
        text = COMPLAINTS[n % 3].format(n=1000 + n)
        root, ref = builder.build(target, Draft(person, False, text, "complaint"))
        posts = [root]
        for k in range(follow_ups):
            text = FOLLOW_UPS[(n + k) % 3].format(n=2000 + n * 10 + k)
            post, ref = builder.build(target, Draft(person, False, text, "follow_up", parent=ref))
            posts.append(post)
        result.customers[person.key] = [(target.platform, p.external_id) for p in posts]
        firsts.append(_delivery(root))
        laters += [_delivery(p) for p in posts[1:]]
    rng.shuffle(laters)
    rng.shuffle(firsts)
    result.out_of_order = laters + firsts
    return result


@dataclass
class Answer:
    delivery: Delivery
    status: int
    body: dict
    at: float


class Sender:
    """Posts deliveries to the web server from ``threads`` threads, at most ``rate`` a second
    (0: as fast as they go), and keeps every answer."""

    def __init__(self, url: str, threads: int, rate: float = 0) -> None:
        self.url = url
        self.threads = threads
        self.rate = rate
        self.answers: list[Answer] = []
        self.lock = threading.Lock()
        self.seconds = 0.0
        self.crashed = ""
        self.done = threading.Event()

    def send(self, client: httpx.Client, index: int, delivery: Delivery, start: float) -> None:
        if self.rate:
            time.sleep(max(0.0, start + index / self.rate - time.monotonic()))
        url = f"{self.url}/socialcare/webhooks/{delivery.target.platform}/{delivery.target.channel_id}/"
        status, body = 0, {}
        for attempt in range(3):  # no answer: the platforms send it again, and so do we
            try:
                response = client.post(
                    url, content=delivery.body, headers={**delivery.headers, **FORWARDED}
                )
                status = response.status_code
                try:
                    body = response.json()
                except ValueError:
                    body = {"text": response.text[:300]}
                break
            except httpx.TransportError as exc:
                status, body = 0, {"error": f"{type(exc).__name__}: {exc}"}
                time.sleep(0.2 * (attempt + 1))
        with self.lock:
            self.answers.append(Answer(delivery, status, body, time.monotonic()))

    def run(self, deliveries: Sequence[Delivery]) -> None:
        began = time.monotonic()
        try:
            limits = httpx.Limits(max_connections=self.threads, keepalive_expiry=2)
            with (
                httpx.Client(timeout=30, limits=limits, trust_env=False) as client,
                ThreadPoolExecutor(self.threads, thread_name_prefix="embedded-send") as pool,
            ):
                list(
                    pool.map(
                        lambda item: self.send(client, item[0], item[1], began),
                        enumerate(deliveries),
                    )
                )
        except Exception as exc:  # reported by the test thread
            self.crashed = f"{type(exc).__name__}: {exc}"
        finally:
            self.seconds = time.monotonic() - began
            self.done.set()

    def statuses(self) -> Counter[int]:
        return Counter(a.status for a in self.answers)

    def refusals(self, limit: int = 5) -> list[str]:
        return [f"{a.status}: {a.body}" for a in self.answers if a.status != 200][:limit]

    def accepted(self) -> dict[int, Answer]:
        """Delivery id -> the answer that named it (200, stored now or before)."""
        return {
            a.body["delivery"]: a
            for a in self.answers
            if a.status == 200 and isinstance(a.body.get("delivery"), int)
        }
