"""Routing: agent availability, capacity and skills, auto-assignment and the team queue
(docs/assignment.md).

- ``availability``: status (online / away / offline), activity, ``on_duty(team, at)``.
- ``assign``: picking an agent, queueing, draining a team's queue under the team's lock.
- ``queue``: the queue in triage order, supervisor notifications, dashboard figures.
"""

from __future__ import annotations

from socialcare.services.routing.availability import (
    on_duty,
    record_activity,
    set_status,
    status_of,
    team_has_someone_on_duty,
)

__all__ = ["on_duty", "record_activity", "set_status", "status_of", "team_has_someone_on_duty"]
