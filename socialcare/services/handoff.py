"""Taking a conversation private: a short public note, then direct message or email."""

from __future__ import annotations

import smtplib
from typing import Any

from django.db import transaction

from socialcare.exceptions import SocialCareError
from socialcare.models import Case, CaseEvent, Post, ReplyTemplate, Visibility
from socialcare.services.chat_availability import hand_off_refusal as chat_refusal
from socialcare.services.events import record_event
from socialcare.services.private_replies import hand_off_refusal
from socialcare.services.replies import reply_target, send_reply

DEFAULT_PUBLIC_NOTE = {
    Case.HandOff.DIRECT_MESSAGE: "We're sorry about this. We've sent you a direct message so we "
    "can sort it out privately.",
    Case.HandOff.EMAIL: "We're sorry about this. We've emailed you so we can sort it out "
    "privately.",
}


@transaction.atomic
def hand_off(
    case: Case,
    via: str,
    *,
    actor: Any,
    public_note: str | None = None,
    note_template: ReplyTemplate | None = None,
    private_message: str = "",
    preapproved: bool = False,
) -> Case:
    """Move the conversation to a direct message (or email): when the case began in public, a
    short public note says so (typed, from a template, or the default), then the private message
    (if given) is sent. The case becomes private and records the hand-off.

    On Facebook and Instagram a commenter who has not written to the account privately (no open
    reply window) is reached by the one private reply Meta allows to their latest comment, within
    7 days of it (``services.private_replies``); when neither can go, the hand-off is refused
    with the reason and the alternatives before anything is sent, the public note included. On
    Bluesky, likewise when the customer does not accept the brand's direct messages
    (``services.chat_availability``)."""
    if via not in Case.HandOff.values:
        raise SocialCareError(
            f"Take it private via {' or '.join(Case.HandOff.values)}, not {via!r}."
        )
    case = Case.objects.select_for_update().get(pk=case.pk)
    if case.handed_off_to:
        raise SocialCareError(
            f"{case.reference} was already taken private ({case.get_handed_off_to_display()})."
        )
    if via == Case.HandOff.DIRECT_MESSAGE and not (
        case.channel and case.channel.can_message_private
    ):
        raise SocialCareError(
            f"{case.channel or 'This case'} cannot send direct messages; use email."
        )
    if via == Case.HandOff.EMAIL:
        from socialcare.models import customer_email

        if not customer_email(case.customer):
            raise SocialCareError("The customer has no email address on file.")
    else:
        automated = not getattr(actor, "pk", None)
        # Meta: window or private reply; Bluesky: does the customer accept the brand's messages?
        refusal = hand_off_refusal(case, automated=automated) or chat_refusal(case)
        if refusal:
            raise SocialCareError(refusal)
    public_post: Post | None = None
    if reply_target(case) is not None:
        if note_template is not None:
            public_post = send_reply(
                case, actor=actor, template=note_template, preapproved=preapproved
            )
        else:
            public_post = send_reply(
                case, public_note or DEFAULT_PUBLIC_NOTE[via], actor=actor, preapproved=preapproved
            )
    Case.objects.filter(pk=case.pk).update(handed_off_to=via, visibility=Visibility.PRIVATE)
    case.refresh_from_db()
    record_event(
        case,
        CaseEvent.Kind.HANDED_OFF,
        actor=actor,
        post=public_post,
        via=via,
        text=f"Taken private via {case.get_handed_off_to_display().lower()}.",
    )
    if private_message:
        if via == Case.HandOff.EMAIL:
            _email(case, private_message, actor)
        else:
            send_reply(case, private_message, actor=actor, visibility=Visibility.PRIVATE)
    return case


def _email(case: Case, text: str, actor: Any) -> None:
    from django.core.mail import send_mail

    from socialcare.models import customer_email

    address = customer_email(case.customer)
    try:
        send_mail(f"[{case.reference}] {case.subject}"[:200], text, None, [address])
    except (OSError, smtplib.SMTPException) as exc:
        raise SocialCareError(f"Could not send the email to {address}: {exc}") from exc
    record_event(
        case,
        CaseEvent.Kind.REPLIED,
        actor=actor,
        text=text[:2000],
        visibility="private",
        via="email",
    )
