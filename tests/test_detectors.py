"""Crisis detectors: each kind fires at its threshold and not below it; scope, cooldown, joining
the open incident of the same playbook and scope, and linking the cases of matching posts."""

from __future__ import annotations

import datetime as dt
import itertools
import threading

import pytest
import time_machine
from django.db import connection

from socialcare.models import (
    Case,
    Channel,
    Detector,
    DetectorCount,
    Incident,
    IncidentEvent,
    Playbook,
    PlaybookStep,
    Post,
    SocialIdentity,
)
from socialcare.services import cases as case_services
from socialcare.services.detectors import matched_words, observe_post, run_scheduled, scope_key
from socialcare.services.incidents import change_incident_status
from socialcare.services.sla_scan import scan

pytestmark = pytest.mark.django_db

UTC = dt.UTC
T = dt.datetime(2026, 6, 1, 12, 0, 30, tzinfo=UTC)
_numbers = itertools.count(1)
Kind = Detector.Kind


def minutes(n):
    return dt.timedelta(minutes=n)


@pytest.fixture
def playbook():
    playbook = Playbook.objects.create(name="Wave", slug="wave", severity="high")
    PlaybookStep.objects.create(
        playbook=playbook, order=10, title="Urgent", kind="raise_priority",
        config={"priority": "urgent"},
    )  # fmt: skip
    return playbook


def detector(kind, playbook=None, *, counting_since=T - dt.timedelta(days=2), **fields):
    """A detector that has watched the stream since ``counting_since`` (two days: a volume spike
    or negative surge is past its warm-up; its counters hold a quiet stream unless a test adds
    the usual traffic, see ``usual``)."""
    fields.setdefault("name", f"{kind} {next(_numbers)}")
    return Detector.objects.create(
        kind=kind, playbook=playbook, counting_since=counting_since, **fields
    )


def usual(detector, per_window, at=T):
    """The counters of a stream of ``per_window`` posts every window over the detector's
    baseline period before ``at``'s window, as counting them one by one leaves them."""
    window = minutes(detector.window_minutes)
    start = at.replace(second=0, microsecond=0) + minutes(1) - window
    windows = (dt.timedelta(hours=detector.baseline_hours) - window) // window
    DetectorCount.objects.bulk_create(
        DetectorCount(detector=detector, minute=start - window * k, posts=per_window)
        for k in range(1, windows + 1)
    )


def customer_post(
    channel, text="Your checkout is broken", *, sentiment=-0.8, at=T, followers=10, case=None
):
    """A stored inbound post on its own case (or on ``case``), as ingestion leaves it."""
    n = next(_numbers)
    if case is None:
        author = SocialIdentity.objects.create(
            platform=channel.platform, external_id=f"u{n}", handle=f"user{n}",
            followers_count=followers,
        )  # fmt: skip
        with time_machine.travel(at, tick=False):
            case = case_services.open_case(channel=channel, identity=author, subject=text[:60])
    return Post.objects.create(
        platform=channel.platform, external_id=f"p{n}", channel=channel, author=case.identity,
        direction="inbound", kind="mention", visibility="public", text=text, posted_at=at,
        sentiment=sentiment, case=case,
    )  # fmt: skip


def observe(post, at=None):
    with time_machine.travel(at or post.posted_at, tick=False):
        return observe_post(post)


def burst(channel, count, *, at=T, **kwargs):
    """``count`` posts observed one by one; returns the incidents each observation touched."""
    return [observe(customer_post(channel, at=at, **kwargs)) for _ in range(count)]


def linked(incident):
    return set(incident.cases.values_list("pk", flat=True))


# Volume spike ----------------------------------------------------------------------------------


def test_volume_spike_fires_at_its_threshold_and_not_one_below(channel, playbook):
    """Over a usual one post per 10 minutes (the least a spike is measured against)."""
    spike = detector(Kind.VOLUME_SPIKE, playbook, threshold=6, spike_factor=3, window_minutes=10)
    usual(spike, 1)
    assert all(touched == [] for touched in burst(channel, 5))
    assert not Incident.objects.exists()
    [[incident]] = burst(channel, 1)
    assert incident.detector == spike
    assert incident.playbook == playbook
    assert incident.evidence["count"] == 6
    assert incident.evidence["baseline"] == 1.0
    assert incident.evidence["summary"] == "6 posts in 10 min, 6.0× the usual 1.0"
    assert incident.scope == "platform=*;channel=*"
    assert len(linked(incident)) == 6  # every case of the wave
    assert len(incident.evidence["sample_posts"]) == 5


def test_volume_spike_needs_the_factor_over_the_baseline_of_earlier_minutes(channel, playbook):
    """A post every other minute for the previous 40 minutes is a baseline of 4 per 10-minute
    window: 12 posts (3 × 4) fire, 11 do not, although both are over the threshold of 6."""
    spike = detector(
        Kind.VOLUME_SPIKE, playbook, threshold=6, spike_factor=3, window_minutes=10,
        baseline_hours=1,
    )  # fmt: skip
    usual = customer_post(channel, "Hello", sentiment=0.5, at=T - minutes(50))
    observe(usual)
    for minute in range(48, 10, -2):
        moment = T - minutes(minute)
        observe(customer_post(channel, "Hello", sentiment=0.5, at=moment, case=usual.case))
    assert DetectorCount.objects.filter(detector=spike).count() == 20
    assert not Incident.objects.exists()  # 5 a window never reached the threshold
    assert all(touched == [] for touched in burst(channel, 11))
    [[incident]] = burst(channel, 1)
    assert incident.detector == spike
    assert incident.evidence["count"] == 12
    assert incident.evidence["baseline"] == 4.0
    assert usual.case_id not in linked(incident)  # the baseline is not the wave


# Negative surge --------------------------------------------------------------------------------


def test_negative_surge_counts_only_negative_posts_and_fires_at_its_threshold(channel, playbook):
    detector(Kind.NEGATIVE_SURGE, playbook, threshold=3, window_minutes=15, negative_below=-0.3)
    happy = [customer_post(channel, "Love it", sentiment=0.9) for _ in range(5)]
    neutral = customer_post(channel, "Where is my parcel", sentiment=-0.2)
    for post in [*happy, neutral]:
        assert observe(post) == []
    angry = burst(channel, 2)
    assert angry == [[], []]
    assert not Incident.objects.exists()
    [[incident]] = burst(channel, 1)
    assert incident.evidence["count"] == 3
    negative_cases = set(Post.objects.filter(sentiment__lte=-0.3).values_list("case_id", flat=True))
    assert linked(incident) == negative_cases
    assert DetectorCount.objects.get().posts == 9
    assert DetectorCount.objects.get().negative == 3


def test_negative_posts_older_than_the_window_do_not_count(channel, playbook):
    detector(Kind.NEGATIVE_SURGE, playbook, threshold=3, window_minutes=15)
    observe(customer_post(channel, at=T - minutes(16)))
    assert burst(channel, 2) == [[], []]
    assert not Incident.objects.exists()
    assert len(burst(channel, 1, at=T + minutes(1))[0]) == 1


# Influencer ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("followers", "sentiment", "fires"),
    [
        (50_000, -0.6, True),  # at the threshold
        (2_000_000, -0.9, True),
        (49_999, -0.9, False),  # a smaller account
        (2_000_000, 0.8, False),  # a positive post
        (2_000_000, -0.1, False),  # not negative enough
    ],
)
def test_influencer_fires_for_a_large_negative_account_only(
    channel, playbook, followers, sentiment, fires
):
    detector(Kind.INFLUENCER, playbook, threshold=50_000, negative_below=-0.3)
    post = customer_post(channel, sentiment=sentiment, followers=followers)
    touched = observe(post)
    assert bool(touched) is fires
    if fires:
        assert touched[0].evidence["followers"] == followers
        assert linked(touched[0]) == {post.case_id}


# Watch words -----------------------------------------------------------------------------------

WORDS = ["lawsuit", "sue", "data breach", "Anwalt", "verklagen", "訴訟", "demanda", "abogado"]


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("We will SUE you", ["sue"]),
        ("I have an issue with my order", []),  # "sue" inside "issue"
        ("Pursued by ads", []),
        ("sue.", ["sue"]),
        ("A #lawsuit is coming", ["lawsuit"]),
        ("lawsuits everywhere", []),
        ("Was this a DATA BREACH?", ["data breach"]),
        ("Ich gehe zu meinem ANWALT.", ["Anwalt"]),
        ("Ich werde Sie verklagen!", ["verklagen"]),
        ("Anwaltskanzlei Müller", []),
        ("御社を訴訟します", ["訴訟"]),  # Japanese: no spaces between words
        ("返金してください", []),
        ("Voy a poner una demanda, ¡llamaré a mi abogado!", ["demanda", "abogado"]),
        ("Mi pedido fue demandado", []),
        ("", []),
    ],
)
def test_watch_words_are_case_insensitive_whole_words_in_any_language(text, found):
    assert matched_words(text, WORDS) == found


def test_watch_word_detector_fires_on_a_matching_post_only(channel, playbook):
    detector(Kind.WATCH_WORDS, playbook, watch_words="lawsuit\n  sue  \n\n訴訟\n")
    assert observe(customer_post(channel, "I have an issue with my bill")) == []
    assert observe(customer_post(channel, "Fine, I'll sue", sentiment=0.0)) != []
    assert Incident.objects.get().evidence["words"] == ["sue"]


# SLA-breach cluster ----------------------------------------------------------------------------


def test_sla_breach_cluster_fires_from_the_scheduled_pass_at_its_threshold(channel, playbook):
    cluster = detector(Kind.SLA_BREACH_CLUSTER, playbook, threshold=3, window_minutes=30)
    late = [customer_post(channel, at=T).case for _ in range(3)]
    with time_machine.travel(T + minutes(61), tick=False):
        assert len(scan().breaches) == 3
    with time_machine.travel(T + minutes(62), tick=False):
        [incident] = run_scheduled()
    assert incident.detector == cluster
    assert incident.evidence["count"] == 3
    assert linked(incident) == {c.pk for c in late}
    with time_machine.travel(T + minutes(63), tick=False):
        assert run_scheduled() == []  # cooldown


def test_sla_breach_cluster_below_its_threshold_or_out_of_scope_does_not_fire(channel, playbook):
    detector(Kind.SLA_BREACH_CLUSTER, playbook, threshold=3, window_minutes=30)
    detector(Kind.SLA_BREACH_CLUSTER, playbook, threshold=2, platform="facebook")
    for _ in range(2):
        customer_post(channel)
    with time_machine.travel(T + minutes(61), tick=False):
        scan()
        assert run_scheduled() == []
    # Breaches older than the window no longer count.
    customer_post(channel, at=T + minutes(40))
    with time_machine.travel(T + minutes(101), tick=False):
        assert len(scan().breaches) == 1
        assert run_scheduled() == []


# Scope -----------------------------------------------------------------------------------------


def test_a_scoped_detector_ignores_posts_of_other_platforms_and_channels(channel, playbook, team):
    other = Channel.objects.create(name="Acme 2", platform="x", account_id="brand-2")
    only_channel = detector(Kind.NEGATIVE_SURGE, playbook, threshold=2, channel=other)
    only_facebook = detector(Kind.NEGATIVE_SURGE, playbook, threshold=2, platform="facebook")
    assert burst(channel, 3) == [[], [], []]
    assert not DetectorCount.objects.exists()
    [[], [incident]] = burst(other, 2)
    assert incident.detector == only_channel
    assert incident.scope == scope_key(only_channel) == f"platform=*;channel={other.pk}"
    assert scope_key(only_facebook) == "platform=facebook;channel=*"
    assert linked(incident) == set(Case.objects.filter(channel=other).values_list("pk", flat=True))


def test_same_playbook_in_different_scopes_gives_separate_incidents(channel, playbook):
    detector(Kind.INFLUENCER, playbook, threshold=1000)
    detector(Kind.INFLUENCER, playbook, threshold=1000, platform="x")
    observe(customer_post(channel, followers=5000))
    assert Incident.objects.count() == 2
    assert set(Incident.objects.values_list("scope", flat=True)) == {
        "platform=*;channel=*",
        "platform=x;channel=*",
    }


# One wave, one incident: joining, linking, cooldown -------------------------------------------


def test_detectors_of_one_playbook_and_scope_share_one_incident(channel, playbook):
    influencer = detector(Kind.INFLUENCER, playbook, threshold=1000)
    words = detector(Kind.WATCH_WORDS, playbook, watch_words="lawyer")
    first = customer_post(channel, "Terrible service", followers=5000)
    [incident] = observe(first)
    second = customer_post(channel, "Calling my lawyer")
    assert observe(second) == [incident]
    assert Incident.objects.count() == 1
    assert incident.detector == influencer
    assert linked(incident) == {first.case_id, second.case_id}
    evidence = IncidentEvent.objects.get(incident=incident, kind="evidence")
    assert evidence.data["detector"] == words.name
    assert evidence.data["words"] == ["lawyer"]


def test_cases_of_matching_posts_join_the_open_incident(channel, playbook):
    detector(Kind.NEGATIVE_SURGE, playbook, threshold=2, cooldown_minutes=60)
    [[], [incident]] = burst(channel, 2)
    later = customer_post(channel, at=T + minutes(5))
    assert observe(later) == [incident]
    assert later.case_id in linked(incident)
    # The playbook's case-wide steps already done apply to the late case too.
    assert Case.objects.get(pk=later.case_id).priority == "urgent"
    happy = customer_post(channel, "All good now, thanks!", sentiment=0.8, at=T + minutes(6))
    assert observe(happy) == []
    assert Case.objects.get(pk=happy.case_id).incident is None
    change_incident_status(incident, Incident.Status.CONTAINED, actor=None)
    contained = customer_post(channel, at=T + minutes(7))
    assert observe(contained) == []  # contained: the wave is no longer growing it
    assert Case.objects.get(pk=contained.case_id).incident is None


def test_cooldown_no_new_incident_and_after_it_join_the_unresolved_one(channel, playbook):
    influencer = detector(Kind.INFLUENCER, playbook, threshold=1000, cooldown_minutes=30)
    [incident] = observe(customer_post(channel, followers=5000))
    fired_at = Detector.objects.get(pk=influencer.pk).last_fired_at
    assert fired_at == T
    # Within the cooldown: joined, not fired again.
    assert observe(customer_post(channel, followers=5000, at=T + minutes(10))) == [incident]
    assert Detector.objects.get(pk=influencer.pk).last_fired_at == fired_at
    assert not IncidentEvent.objects.filter(kind="evidence").exists()
    # After the cooldown, with the incident still open: fires and joins it.
    assert observe(customer_post(channel, followers=5000, at=T + minutes(31))) == [incident]
    assert Incident.objects.count() == 1
    assert IncidentEvent.objects.filter(incident=incident, kind="evidence").count() == 1
    assert len(linked(incident)) == 3


def test_after_a_resolved_incident_a_new_one_opens_only_once_the_cooldown_is_over(
    channel, playbook
):
    detector(Kind.INFLUENCER, playbook, threshold=1000, cooldown_minutes=30)
    [first] = observe(customer_post(channel, followers=5000))
    with time_machine.travel(T + minutes(5), tick=False):
        change_incident_status(first, Incident.Status.RESOLVED, actor=None)
    within = customer_post(channel, followers=5000, at=T + minutes(29))
    assert observe(within) == []
    assert Case.objects.get(pk=within.case_id).incident is None  # a resolved incident is closed
    assert Incident.objects.count() == 1
    [second] = observe(customer_post(channel, followers=5000, at=T + minutes(30)))
    assert second != first
    assert second.status == Incident.Status.OPEN
    assert Incident.objects.count() == 2


def test_the_scheduled_pass_fires_a_counted_detector_once_its_cooldown_is_over(channel, playbook):
    detector(Kind.NEGATIVE_SURGE, playbook, threshold=2, window_minutes=15, cooldown_minutes=5)
    [[], [first]] = burst(channel, 2)
    with time_machine.travel(T + minutes(1), tick=False):
        change_incident_status(first, Incident.Status.RESOLVED, actor=None)
    assert burst(channel, 1, at=T + minutes(2)) == [[]]  # over the threshold, in the cooldown
    with time_machine.travel(T + minutes(4), tick=False):
        assert run_scheduled() == []
    with time_machine.travel(T + minutes(6), tick=False):
        [second] = run_scheduled()
    assert second != first
    assert len(linked(second)) == 3  # the wave still in the window


# What is not counted ---------------------------------------------------------------------------


def test_inactive_detectors_outbound_and_deleted_posts_are_ignored(channel, playbook, agent):
    detector(Kind.NEGATIVE_SURGE, playbook, threshold=1, is_active=False)
    assert burst(channel, 2) == [[], []]
    Detector.objects.update(is_active=True)
    deleted = customer_post(channel)
    Post.objects.filter(pk=deleted.pk).update(deleted_at=T)
    deleted.refresh_from_db()
    outbound = customer_post(channel)
    Post.objects.filter(pk=outbound.pk).update(direction="outbound")
    outbound.refresh_from_db()
    orphan = customer_post(channel)
    Post.objects.filter(pk=orphan.pk).update(case=None)
    orphan.refresh_from_db()
    for post in (deleted, outbound, orphan):
        assert observe(post) == []
    assert not DetectorCount.objects.exists()
    assert not Incident.objects.exists()


def test_a_detector_without_a_playbook_opens_a_bare_incident(channel):
    watch = detector(Kind.WATCH_WORDS, watch_words="hacked")
    [incident] = observe(customer_post(channel, "My account was hacked"))
    assert incident.detector == watch
    assert incident.playbook is None
    assert not incident.steps.exists()


def test_the_scheduled_pass_drops_counters_older_than_baseline_and_window(channel):
    spike = detector(Kind.VOLUME_SPIKE, threshold=1000, window_minutes=10, baseline_hours=1)
    for minute in (200, 131, 129, 5):
        DetectorCount.objects.create(detector=spike, minute=T - minutes(minute), posts=1)
    with time_machine.travel(T, tick=False):
        run_scheduled()
    kept = sorted(DetectorCount.objects.values_list("minute", flat=True))
    assert kept == [T - minutes(129), T - minutes(5)]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_posts_observed_at_once_by_several_workers_open_one_incident(team):
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: SQLite serializes writers")
    from django.db import connections

    channel = Channel.objects.create(name="X", platform="x", account_id="b1", default_team=team)
    playbook = Playbook.objects.create(name="Wave", slug="wave")
    detector(Kind.NEGATIVE_SURGE, playbook, threshold=3, window_minutes=15)
    usual(detector(Kind.VOLUME_SPIKE, playbook, threshold=3, spike_factor=1, window_minutes=15), 1)
    posts = [customer_post(channel) for _ in range(8)]
    barrier = threading.Barrier(len(posts))
    errors = []

    def work(post):
        try:
            barrier.wait()
            observe_post(post, now=T)
        except BaseException as exc:  # reported below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=work, args=(p,)) for p in posts]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    [incident] = Incident.objects.all()  # two detectors, one playbook and scope: one incident
    assert linked(incident) == {p.case_id for p in posts}
    assert Case.objects.filter(incident=incident).count() == 8
    for post in posts:
        assert post.case.events.filter(kind="incident_linked").count() == 1
    counted = DetectorCount.objects.filter(minute=T.replace(second=0))
    assert sorted(counted.values_list("posts", "negative")) == [(8, 8), (8, 8)]


# Many posts in one pass (an ingest batch) ------------------------------------------------------


def observed_as(channel, playbook, *, batched: bool):
    """A baseline, then a wave of mixed posts, observed one by one or in one pass; what the
    detectors made of it."""
    from socialcare.services.detectors import observe_posts

    usual(detector(Kind.VOLUME_SPIKE, playbook, threshold=6, spike_factor=2, window_minutes=10), 1)
    detector(Kind.NEGATIVE_SURGE, playbook, threshold=4, window_minutes=10)
    detector(Kind.WATCH_WORDS, None, watch_words="recall")
    posts = [customer_post(channel, "Hello", sentiment=0.5, at=T - minutes(40 - m)) for m in (0, 9)]
    for n in range(12):
        mood = -0.8 if n % 2 else 0.3
        text = "Product recall?" if n == 7 else f"Post {n}"
        posts.append(customer_post(channel, text, sentiment=mood, at=T - minutes(n % 3)))
    with time_machine.travel(T, tick=False):
        touched = observe_posts(posts) if batched else [i for p in posts for i in observe_post(p)]
    counts = sorted(
        (c.detector.kind, c.minute, c.posts, c.negative) for c in DetectorCount.objects.all()
    )
    incidents = sorted(
        (i.detector.kind, i.evidence.get("count", None),
         len(linked(i)))
        for i in Incident.objects.all()
    )  # fmt: skip
    return [i.pk for i in touched], counts, incidents


def test_posts_observed_in_one_pass_end_as_observed_one_by_one(channel, playbook):
    touched_one, counts_one, incidents_one = observed_as(channel, playbook, batched=False)
    assert incidents_one  # the wave fired something
    from tests.test_ingest import wipe

    Case.objects.update(incident=None)
    Incident.objects.all().delete()
    Detector.objects.all().delete()
    wipe()
    touched, counts, incidents = observed_as(channel, playbook, batched=True)
    assert counts == counts_one
    assert incidents == incidents_one
    assert len(touched) == len(touched_one)


def test_one_pass_reads_the_detectors_and_window_once(channel, playbook):
    from django.test.utils import CaptureQueriesContext

    from socialcare.services.detectors import observe_posts

    detector(Kind.VOLUME_SPIKE, playbook, threshold=1000, window_minutes=10)
    detector(Kind.NEGATIVE_SURGE, playbook, threshold=1000, window_minutes=10)
    posts = [customer_post(channel, f"Post {n}", sentiment=-0.9, at=T) for n in range(30)]
    with time_machine.travel(T, tick=False), CaptureQueriesContext(connection) as queries:
        assert observe_posts(posts) == []
    # detectors, 3 sums, 1 counter UPSERT, 2 active incidents (one playbook, one scope: 1)
    assert len(queries) <= 8, [q["sql"] for q in queries]
    assert sorted(DetectorCount.objects.values_list("posts", "negative")) == [(30, 30), (30, 30)]
