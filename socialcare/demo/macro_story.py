"""The demo's macros (issue #20; ``services.macros``).

Two macros an agent runs from a case page ("Run macro"), from the inbox (select cases, "Run a
macro on the selected cases…") or through the API (``GET api/v1/macros/``):

- **Refund issued**, for everyone: the "Refund on its way (DM)" reply as a private message, the
  tag "refund", status resolved, and a note. On a case whose messaging window has closed the
  reply is refused and the whole macro with it (nothing changes; the agent is told why).
- **Escalate to billing**, offered to the Social Care team only (Billing's agents do not see
  it): priority high, the case moves to Billing, tag "billing", unassigned, and a note.

Support admins edit them in admin (Social care › Macros); agents and supervisors only run them.
"""

from __future__ import annotations

from typing import Any

from socialcare.models import Macro, MacroAction

__all__ = ["add_demo_macros"]

Kind = MacroAction.Kind


def add_demo_macros(builder: Any) -> list[Macro]:
    """Create the demo's two macros from the builder's templates and teams."""
    refund = Macro.objects.create(
        name="Refund issued",
        description="Tell the customer (privately) that the refund is on its way, then resolve.",
    )
    MacroAction.objects.bulk_create(
        [
            MacroAction(
                macro=refund,
                position=1,
                kind=Kind.REPLY,
                template=builder.templates["refund-sent"],
                visibility="private",
            ),
            MacroAction(macro=refund, position=2, kind=Kind.ADD_TAGS, tags="refund"),
            MacroAction(macro=refund, position=3, kind=Kind.STATUS, status="resolved"),
            MacroAction(
                macro=refund,
                position=4,
                kind=Kind.NOTE,
                text="Refund issued; the customer was told it takes 3–5 working days.",
            ),
        ]
    )
    escalate = Macro.objects.create(
        name="Escalate to billing",
        description="A payment problem the front line cannot solve: hand it to Billing.",
    )
    escalate.teams.set([builder.teams["care"]])
    MacroAction.objects.bulk_create(
        [
            MacroAction(macro=escalate, position=1, kind=Kind.PRIORITY, priority="high"),
            MacroAction(macro=escalate, position=2, kind=Kind.TEAM, team=builder.teams["billing"]),
            MacroAction(macro=escalate, position=3, kind=Kind.ADD_TAGS, tags="billing"),
            MacroAction(macro=escalate, position=4, kind=Kind.UNASSIGN),
            MacroAction(
                macro=escalate,
                position=5,
                kind=Kind.NOTE,
                text="Escalated to Billing: payment question beyond the front line.",
            ),
        ]
    )
    return [refund, escalate]
