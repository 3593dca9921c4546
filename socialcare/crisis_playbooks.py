"""The three ready playbooks socialcare ships, with the detectors that start them and the holding
replies they post. Installed (idempotently) by ``manage.py socialcare_playbooks``; edit them in
admin afterwards — a second run never overwrites an existing playbook, detector or template.

Safe first run: every step that reaches customers (holding reply, taking it to DMs) is installed
manual, so nothing is sent to a customer by itself until an admin makes that step automatic; the
internal steps (notify, approval gate, routing, priority) run by themselves. ``live_report()`` says
what is live."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from django.db import transaction

from socialcare.models import Detector, Playbook, PlaybookStep, ReplyTemplate, Team
from socialcare.services.playbook_steps import reaches_customers
from socialcare.services.warm_up import seed_history, warm_up

TEMPLATES = [
    {
        "shortcut": "defect-holding",
        "name": "Holding reply: known defect",
        "text": "Hi {{ customer }}, thank you for flagging this, and we're sorry for the trouble. We "
        "know about the problem and our team is working on a fix right now. We'll update you "
        "here as soon as we know more.",
    },
    {
        "shortcut": "outage-holding",
        "name": "Holding reply: service outage",
        "text": "We're sorry, {{ customer }}: {{ brand }} is having a service disruption right now. "
        "Our engineers are on it and we'll post updates here. Thank you for your patience.",
    },
    {
        "shortcut": "private-follow-up",
        "name": "Take it private",
        "text": "Hi {{ customer }}, thanks for telling us, and sorry for the trouble. We'd like to "
        "look into this properly: we've sent you a direct message so we can continue privately.",
        "visibility": "public",
    },
]

PLAYBOOKS = [
    {
        "slug": "product-defect",
        "name": "Product defect wave",
        "severity": "high",
        "description": "Many customers report the same broken feature or product at once.",
        "steps": [
            ("Alert the escalations team", "notify", True, 0, {"teams": ["Escalations"]}),
            # Many agents answering one wave at once must not contradict each other in public.
            ("Hold public replies for approval", "require_approval", True, 0, {}),
            ("Route linked cases to Escalations", "assign_team", True, 0, {"team": "Escalations"}),
            ("Raise linked cases to high", "raise_priority", True, 0, {"priority": "high"}),
            (
                "Post the known-defect holding reply",
                "holding_reply",
                False,  # reaches customers: an admin makes it automatic
                0,
                {"template": "defect-holding"},
            ),
            ("Confirm the defect with Product and get an ETA", "checklist", False, 30, {}),
            ("Publish a status update with the ETA", "checklist", False, 60, {}),
        ],
        "detectors": [
            {
                "name": "Negative surge",
                "kind": "negative_surge",
                "threshold": 15,
                "window_minutes": 15,
                "cooldown_minutes": 120,
            }
        ],
    },
    {
        "slug": "service-outage",
        "name": "Service outage",
        "severity": "critical",
        "description": "The service is down or degraded and posts spike across platforms.",
        "steps": [
            (
                "Page the on-call lead and Escalations",
                "notify",
                True,
                0,
                {"teams": ["Escalations"]},
            ),
            ("Hold public replies for approval", "require_approval", True, 0, {}),
            (
                "Post the outage holding reply",
                "holding_reply",
                False,  # reaches customers: an admin makes it automatic
                0,
                {"template": "outage-holding"},
            ),
            ("Raise linked cases to urgent", "raise_priority", True, 0, {"priority": "urgent"}),
            ("Post an update on the status page", "checklist", False, 15, {}),
            ("Confirm recovery and thank affected customers", "checklist", False, 120, {}),
        ],
        "detectors": [
            {
                "name": "Volume spike",
                "kind": "volume_spike",
                "threshold": 30,
                "window_minutes": 10,
                "spike_factor": 3.0,
                "cooldown_minutes": 60,
            }
        ],
    },
    {
        "slug": "legal-threat",
        "name": "Influencer or legal threat",
        "severity": "high",
        "description": "A high-reach account complains, or someone mentions lawyers, injuries or "
        "a security breach.",
        "steps": [
            ("Alert communications and legal", "notify", True, 0, {"teams": ["Escalations"]}),
            ("Hold public replies for approval", "require_approval", True, 0, {}),
            ("Route to Escalations", "assign_team", True, 0, {"team": "Escalations"}),
            ("Raise to urgent", "raise_priority", True, 0, {"priority": "urgent"}),
            (
                "Take the conversation to direct messages",
                "take_private",
                False,
                15,
                {"via": "direct_message"},
            ),
            ("Legal review before any public statement", "checklist", False, 60, {}),
        ],
        "detectors": [
            {
                "name": "Influencer complaint",
                "kind": "influencer",
                "threshold": 50_000,
                "cooldown_minutes": 30,
            },
            {
                "name": "Legal and safety watch words",
                "kind": "watch_words",
                "watch_words": "\n".join(
                    [
                        "lawsuit",
                        "sue",
                        "lawyer",
                        "attorney",
                        "hacked",
                        "data breach",
                        "injured",
                        "injury",
                        "Anwalt",
                        "verklagen",
                        "訴訟",
                        "demanda",
                        "abogado",
                    ]
                ),
                "cooldown_minutes": 30,
            },
        ],
    },
]


@transaction.atomic
def install_playbooks() -> list[str]:
    """Create what is missing; never change what exists (an admin's choices, such as a step made
    automatic or manual, stay). Returns what was done, line by line. A new volume spike or
    negative surge takes its history from the posts already stored (``seed_history``)."""
    report = []
    _, created = Team.objects.get_or_create(name="Escalations")
    if created:
        report.append("created team: Escalations")
    for spec in TEMPLATES:
        _, created = ReplyTemplate.objects.get_or_create(
            shortcut=spec["shortcut"],
            defaults={
                "name": spec["name"],
                "text": spec["text"],
                "visibility": spec.get("visibility", ""),
            },
        )
        report.append(f"{'created' if created else 'kept'} reply template: {spec['name']}")
    for spec in PLAYBOOKS:
        playbook, created = Playbook.objects.get_or_create(
            slug=spec["slug"],
            defaults={
                "name": spec["name"],
                "severity": spec["severity"],
                "description": spec["description"],
            },
        )
        if created:
            for order, (title, kind, automatic, due, config) in enumerate(spec["steps"], start=1):
                PlaybookStep.objects.create(
                    playbook=playbook,
                    order=order * 10,
                    title=title,
                    kind=kind,
                    automatic=automatic,
                    due_after_minutes=due,
                    config=config,
                )
        report.append(f"{'created' if created else 'kept'} playbook: {playbook.name}")
        for detector in spec["detectors"]:
            fields = {k: v for k, v in detector.items() if k != "name"}
            installed, created = Detector.objects.get_or_create(
                name=detector["name"], defaults={**fields, "playbook": playbook}
            )
            if created:
                seed_history(installed)
            report.append(f"{'created' if created else 'kept'} detector: {detector['name']}")
    return report


# What is live --------------------------------------------------------------------------------
@dataclass
class PlaybookLiveness:
    """One playbook's steps by what they do when a detector fires, and its detectors' warm-up."""

    name: str
    live: list[str] = field(default_factory=list)  # automatic and reaching customers
    waiting: list[str] = field(default_factory=list)  # reaching customers, manual
    internal: list[str] = field(default_factory=list)  # automatic, internal
    detectors: list[tuple[str, str]] = field(default_factory=list)  # (name, warm-up)

    def lines(self) -> list[str]:
        def titles(names: list[str]) -> str:
            return "; ".join(f'"{n}"' for n in names) or "none"

        return [
            f"{self.name}:",
            f"  LIVE, reaches customers by itself: {titles(self.live)}",
            f"  reaches customers, waits for an admin to make it automatic: {titles(self.waiting)}",
            f"  automatic, internal: {titles(self.internal)}",
            *(f"  detector {name!r}: {status}" for name, status in self.detectors),
        ]


def live_report(now: dt.datetime | None = None) -> list[PlaybookLiveness]:
    """Every playbook: which steps reach customers by themselves (live), which reach customers
    but wait for an admin to make them automatic (an agent can still run them from an incident),
    which run by themselves internally; and whether its detectors can fire yet."""
    report = []
    for playbook in Playbook.objects.prefetch_related("steps", "detectors"):
        entry = PlaybookLiveness(playbook.name)
        for step in playbook.steps.all():
            if reaches_customers(step.kind):
                (entry.live if step.automatic else entry.waiting).append(step.title)
            elif step.automatic:
                entry.internal.append(step.title)
        entry.detectors = [(d.name, warm_up(d, now).summary) for d in playbook.detectors.all()]
        report.append(entry)
    return report
