"""The demo's availability, capacity, skills and team queue (issue #20; ``services.routing``).

Social Care shows capacities and skills (Maya and Lukas answer in English and German, Sofia in
Italian and English, Aiko in Japanese and English) and statuses: Maya and Lukas are online, Sofia
is away, Aiko offline. Escalations assigns automatically (queue wait limit 15 minutes): Hannah is
online with room for two cases, Diego offline. Two escalated complaints went to Hannah as they
came in (3 and 12 minutes after they were queued: the dashboard's time to assignment); the third
waits in the Escalations queue ("Waiting for an agent" in the inbox, ``GET api/v1/queue/``) and
has waited past the limit, so the supervisors were told.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from socialcare.demo.data import HIGH, NORMAL, OPEN
from socialcare.demo.stories import Story
from socialcare.models import AgentStatus, AssignmentWait, Case, Team, TeamMembership

__all__ = ["play_routing_story"]

#: username -> (status, capacity, languages)
AGENTS = {
    "maya": ("online", 6, ["en", "de"]),
    "lukas": ("online", 6, ["de", "en"]),
    "sofia": ("away", 4, ["it", "en"]),
    "aiko": ("offline", 4, ["ja", "en"]),
    "hannah": ("online", 2, []),
    "diego": ("offline", 3, ["es", "en"]),
}
IDENTITIES = [
    ("x", "gadget_grace", "Grace H.", 2300, False, ""),
    ("x", "tomwrites", "Tom W.", 180, False, ""),
    ("x", "rita_reviews", "Rita M.", 9100, False, ""),
]
#: (identity handle, minutes ago opened, minutes queued before Hannah took it or None, text)
CASES = [
    ("gadget_grace", 95, 3, "@AcmeHelp my Acme Hub bricked itself after the update. Third time."),
    ("tomwrites", 70, 12, "@AcmeHelp charged twice for the warranty extension, still no refund?"),
    (
        "rita_reviews",
        25,
        None,
        "@AcmeHelp reviewing the Acme Cam today; the app won't pair at all.",
    ),
]


def play_routing_story(builder: Any) -> list[tuple[Story, Case]]:
    """``builder``: the demo loader. Sets statuses, capacities and skills, and plays the
    Escalations queue."""
    now = builder.now
    for username, (status, capacity, languages) in AGENTS.items():
        user = builder.agents[username]
        AgentStatus.objects.update_or_create(
            user=user,
            defaults={
                "status": status,
                "changed_at": now - dt.timedelta(minutes=40),
                "last_activity_at": now - dt.timedelta(minutes=2),
            },
        )
        TeamMembership.objects.filter(user=user).update(capacity=capacity, languages=languages)
    escalations: Team = builder.teams["escalations"]
    played = []
    for spec, (handle, minutes_ago, queued_for, text) in zip(IDENTITIES, CASES, strict=True):
        key = f"?{handle}"
        builder.identities[key, "x"] = builder.make_identity(spec)
        story = Story(
            key,
            "x",
            OPEN,
            HIGH if queued_for is None else NORMAL,
            minutes_ago / 60,
            text,
            agent="hannah" if queued_for is not None else "",
            team="escalations",
        )
        case = builder.play(story)
        opened = now - dt.timedelta(minutes=minutes_ago)
        if queued_for is None:
            AssignmentWait.objects.create(
                case=case,
                team=escalations,
                queued_at=opened,
                notified_at=opened + dt.timedelta(minutes=15),
            )
        else:
            AssignmentWait.objects.create(
                case=case,
                team=escalations,
                queued_at=opened,
                ended_at=opened + dt.timedelta(minutes=queued_for),
                outcome=AssignmentWait.Outcome.ASSIGNED,
                assignee=builder.agents["hannah"],
            )
        played.append((story, case))
    # Hannah holds two open Escalations cases (her capacity): the third case waits.
    hannah = builder.agents["hannah"]
    held = Case.objects.open().filter(team=escalations, assignee=hannah).count()
    TeamMembership.objects.filter(team=escalations, user=hannah).update(capacity=max(2, held))
    Team.objects.filter(pk=escalations.pk).update(
        auto_assign=True, queue_wait_limit=dt.timedelta(minutes=15)
    )
    escalations.refresh_from_db()
    return played
