"""socialcare's signals turned into outbound webhook events (see services/outbound.py).

The signals are sent after the change is committed, so an event that cannot be recorded is logged
and dropped here rather than failing a change that already happened.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

from socialcare import signals
from socialcare.services import outbound
from socialcare.services import outbound_payloads as payloads

logger = logging.getLogger("socialcare.outbound")


def _emit(event_type: str, build: Callable[[], Mapping[str, Any]]) -> None:
    try:
        outbound.emit(event_type, build)
    except Exception:
        logger.exception("Could not record the outbound %s event", event_type)


def on_case_opened(sender: Any, *, case: Any, actor: Any = None, **kwargs: Any) -> None:
    _emit(
        "case.created",
        lambda: {"case": payloads.case_data(case), "actor": payloads.user_data(actor)},
    )


def on_case_status_changed(
    sender: Any, *, case: Any, from_status: str, to_status: str, actor: Any = None, **kwargs: Any
) -> None:
    _emit(
        "case.status_changed",
        lambda: {
            "case": payloads.case_data(case),
            "from": from_status,
            "to": to_status,
            "actor": payloads.user_data(actor),
        },
    )


def on_case_updated(
    sender: Any, *, case: Any, field: str, old: Any, new: Any, actor: Any = None, **kwargs: Any
) -> None:
    _emit(
        "case.updated",
        lambda: {
            "case": payloads.case_data(case),
            "field": field,
            "old": old,
            "new": new,
            "actor": payloads.user_data(actor),
        },
    )


def on_post_received(
    sender: Any, *, post: Any, case: Any = None, case_created: bool = False, **kwargs: Any
) -> None:
    _emit(
        "post.created",
        lambda: {
            "post": payloads.post_data(post),
            "case": payloads.case_data(case) if case else None,
            "case_created": case_created,
        },
    )


def on_reply_sent(sender: Any, *, post: Any, case: Any = None, **kwargs: Any) -> None:
    _emit(
        "reply.sent",
        lambda: {
            "post": payloads.post_data(post),
            "case": payloads.case_data(case) if case else None,
        },
    )


def on_post_moderated(
    sender: Any,
    *,
    post: Any,
    case: Any = None,
    action: str,
    actor: Any = None,
    reason: str = "",
    source: str = "",
    **kwargs: Any,
) -> None:
    _emit(
        "post.moderated",
        lambda: {
            "post": payloads.post_data(post),
            "case": payloads.case_data(case) if case else None,
            "action": action,
            "reason": reason,
            "source": source or None,
            "actor": payloads.user_data(actor),
        },
    )


def on_customers_merged(
    sender: Any, *, source: Any, target: Any, merge: Any, actor: Any = None, **kwargs: Any
) -> None:
    _emit(
        "identity.merged",
        lambda: {
            "source": payloads.customer_data(source),
            "target": payloads.customer_data(target),
            "identities_moved": merge.identities_moved,
            "cases_moved": merge.cases_moved,
            "merged_at": merge.merged_at,
            "actor": payloads.user_data(actor),
        },
    )


def on_incident_opened(sender: Any, *, incident: Any, actor: Any = None, **kwargs: Any) -> None:
    _emit(
        "incident.opened",
        lambda: {"incident": payloads.incident_data(incident), "actor": payloads.user_data(actor)},
    )


def on_incident_updated(
    sender: Any, *, incident: Any, change: str = "", actor: Any = None, **kwargs: Any
) -> None:
    _emit(
        "incident.updated",
        lambda: {
            "incident": payloads.incident_data(incident),
            "change": change,
            "actor": payloads.user_data(actor),
        },
    )


def on_sla_alert(sender: Any, *, alert: Any, case: Any, **kwargs: Any) -> None:
    _emit(
        "case.sla_breached" if alert.level == "breach" else "case.sla_warning",
        lambda: {
            "case": payloads.case_data(case),
            "target": alert.target,
            "due_at": alert.due_at,
        },
    )


def on_csat_received(sender: Any, *, survey: Any, case: Any, **kwargs: Any) -> None:
    from socialcare.services.csat import answers as csat_answers

    _emit(
        "case.csat_received",
        lambda: {"case": payloads.case_data(case), "csat": csat_answers.survey_data(survey)},
    )


RECEIVERS = [
    (signals.case_opened, on_case_opened),
    (signals.case_status_changed, on_case_status_changed),
    (signals.case_updated, on_case_updated),
    (signals.post_received, on_post_received),
    (signals.reply_sent, on_reply_sent),
    (signals.post_moderated, on_post_moderated),
    (signals.customers_merged, on_customers_merged),
    (signals.incident_opened, on_incident_opened),
    (signals.incident_updated, on_incident_updated),
    (signals.sla_alert, on_sla_alert),
    (signals.csat_received, on_csat_received),
]


def connect() -> None:
    """Connect the receivers (from ``SocialCareConfig.ready()``; safe to call twice)."""
    for signal, receiver in RECEIVERS:
        signal.connect(receiver, dispatch_uid=f"socialcare.outbound.{receiver.__name__}")
