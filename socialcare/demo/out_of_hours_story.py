"""The demo's out-of-hours acknowledgement (issue #20; ``services.out_of_hours``).

"Acme on X" acknowledges private messages out of hours with the "Out of hours" template (an
English one and a German one of the same name). Lena wrote to Acme by direct message on Saturday
night, in German, about a double charge; her case went to Billing, whose business hours (the
Berlin office: Monday to Friday, 8 to 18) were closed, and nobody of Billing was online. She got
one acknowledgement, in German, naming when Billing is back; the ledger of automatic messages
records it (purpose ``out_of_hours:<opening>``), and her case's first response is still owed by a
person. The channel's admin page and ``GET api/v1/channels/`` show the setting; the case's
timeline shows "Out-of-hours acknowledgement: sent".
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from typing import Any

from socialcare.demo.data import NORMAL, OPEN
from socialcare.demo.stories import Story
from socialcare.models import (
    AutomaticMessage,
    Case,
    CaseEvent,
    Channel,
    Post,
    ReplyTemplate,
    Visibility,
)
from socialcare.services import out_of_hours
from socialcare.services.automatic_messages import conversation_key
from socialcare.services.events import record_event
from socialcare.services.templates import render_reply_template

__all__ = ["TEMPLATES", "play_out_of_hours_story"]

#: name, shortcut, language, text: one template in two languages.
TEMPLATES = [
    (
        "Out of hours",
        "out-of-hours",
        "en",
        "Hi {{ customer }}, thanks for your message! Our team is offline right now and back "
        "{{ opens }}; a person will answer you then. – {{ brand }}",
    ),
    (
        "Out of hours",
        "out-of-hours-de",
        "de",
        "Hallo {{ customer }}, danke für deine Nachricht! Unser Team ist gerade nicht da und ab "
        "{{ opens }} wieder für dich erreichbar. – {{ brand }}",
    ),
]
TEXT = (
    "Hallo Acme, ihr habt mir die Jahresgebühr für Acme Cloud zweimal abgebucht. Bitte eine "
    "Gutschrift, danke."
)
IDENTITY = ("x", "lena_k_berlin", "Lena K.", 420, False, "")


def play_out_of_hours_story(builder: Any) -> list[tuple[Story, Case]]:
    """``builder``: the demo loader. Configures the X channel and plays Lena's case."""
    channel: Channel = builder.channels["x"]
    templates = [
        ReplyTemplate.objects.create(
            name=name, shortcut=shortcut, language=language, visibility="private", text=text
        )
        for name, shortcut, language, text in TEMPLATES
    ]
    builder.templates.update({t.shortcut: t for t in templates})
    Channel.objects.filter(pk=channel.pk).update(
        out_of_hours_ack=True, out_of_hours_template=templates[0]
    )
    channel.refresh_from_db()
    builder.channels["x"] = channel
    calendar = builder.teams["billing"].calendar
    written = _saturday_night(builder.now, zoneinfo.ZoneInfo(calendar.timezone))
    builder.identities["?lena", "x"] = builder.make_identity(IDENTITY)
    hours_ago = (builder.now - written).total_seconds() / 3600
    # German: VADER reads English, so the sentiment is given.
    story = Story(
        "?lena", "x", OPEN, NORMAL, hours_ago, TEXT, private=True, team="billing", sentiment=-0.2
    )
    case = builder.play(story)
    first = case.posts.inbound().get()
    Post.objects.filter(pk=first.pk).update(language="de")
    opens = out_of_hours.next_opening(calendar, written)
    template = out_of_hours.choose_template(channel, Visibility.PRIVATE, "de") or templates[0]
    when = out_of_hours.opens_text(opens, calendar, template.language)
    text = render_reply_template(template, case, extra={"opens": when})
    sent_at = first.received_at + dt.timedelta(seconds=4)
    ack = builder.add_post(
        case,
        inbound=False,
        kind=Post.Kind.DIRECT_MESSAGE,
        at=sent_at,
        text=text,
        parent=first,
        send_status=Post.SendStatus.SENT,
        send_attempts=1,
    )
    record_event(
        case,
        CaseEvent.Kind.REPLIED,
        post=ack,
        at=sent_at,
        text=text,
        visibility=Visibility.PRIVATE,
        template=template.name,
        held_for_approval=False,
    )
    message = AutomaticMessage.objects.create(
        identity_id=case.identity_id,
        purpose=out_of_hours.purpose_for(opens),
        conversation=conversation_key(case),
        case=case,
        status=AutomaticMessage.Status.SENT,
        post=ack,
        created_at=sent_at,
        due_at=sent_at,
        done_at=sent_at,
    )
    record_event(
        case,
        CaseEvent.Kind.AUTOMATIC_MESSAGE,
        post=ack,
        at=sent_at,
        outcome="sent",
        purpose=message.purpose,
        message=message.pk,
        text=f"{out_of_hours.LABEL} (a person answers from {when}): sent.",
    )
    return [(story, case)]


def _saturday_night(now: dt.datetime, zone: dt.tzinfo) -> dt.datetime:
    """23:10 on the last Saturday before ``now``'s day, in ``zone``."""
    local = now.astimezone(zone)
    back = (local.weekday() - 5) % 7 or 7
    day = local.date() - dt.timedelta(days=back)
    return dt.datetime.combine(day, dt.time(23, 10), tzinfo=zone).astimezone(dt.UTC)
