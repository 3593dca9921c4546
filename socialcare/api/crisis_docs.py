"""OpenAPI documentation of the crisis endpoints (``crisis.py``): summaries, descriptions, examples
and error answers. Documentation only; no behaviour."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema_view,
)

from socialcare.api.crisis_serializers import (
    CASES_SHOWN,
    DetectorSerializer,
    IncidentSerializer,
    IncidentStatusChangeSerializer,
    LinkCasesSerializer,
    OpenFromCaseSerializer,
    PlaybookSerializer,
    StepActionSerializer,
)
from socialcare.api.people_docs import DETAIL_ERRORS, LIST_ERRORS, _example, errors
from socialcare.api.schema import extend_schema

# The error answers are the ones every module documents (socialcare.api.people_docs).
ACTION_ERRORS = (400, 401, 403, 404, 415, 429)


PLAYBOOK_EXAMPLE = {
    "id": 1,
    "slug": "product-defect",
    "name": "Product defect wave",
    "description": "Many customers report the same broken feature or product at once.",
    "severity": "high",
    "is_active": True,
    "steps": [
        {
            "id": 1,
            "order": 10,
            "title": "Alert the escalations team",
            "kind": "notify",
            "automatic": True,
            "due_after_minutes": 0,
            "config": {"teams": ["Escalations"]},
        },
        {
            "id": 6,
            "order": 60,
            "title": "Confirm the defect with Product and get an ETA",
            "kind": "checklist",
            "automatic": False,
            "due_after_minutes": 30,
            "config": {},
        },
    ],
}
DETECTOR_EXAMPLE = {
    "id": 1,
    "name": "Negative surge",
    "kind": "negative_surge",
    "is_active": True,
    "platform": "",
    "channel": None,
    "window_minutes": 15,
    "threshold": 15,
    "spike_factor": 3.0,
    "baseline_hours": 24,
    "negative_below": -0.3,
    "watch_words": [],
    "cooldown_minutes": 120,
    "playbook": {"id": 1, "slug": "product-defect", "name": "Product defect wave"},
    "last_fired_at": "2026-03-04T09:30:00Z",
}
INCIDENT_EXAMPLE = {
    "id": 3,
    "title": "Negative surge on X",
    "status": "open",
    "severity": "high",
    "scope": "platform=x;channel=*",
    "playbook": {"id": 1, "slug": "product-defect", "name": "Product defect wave"},
    "detector": {"id": 1, "name": "Negative surge", "kind": "negative_surge"},
    "evidence": {
        "summary": "17 negative posts in 15 minutes (threshold 15)",
        "count": 17,
        "threshold": 15,
        "detector": "Negative surge",
        "sample_posts": [
            {
                "id": 314,
                "text": "The app eats my photos again",
                "author": "@ada",
                "url": "https://x.com/ada/status/1893345",
            }
        ],
    },
    "requires_approval": True,
    "commander": {"id": 9, "username": "sam", "name": "Sam Supervisor"},
    "opened_by": None,
    "opened_at": "2026-03-04T09:30:00Z",
    "contained_at": None,
    "resolved_at": None,
    "updated_at": "2026-03-04T10:02:00Z",
    "steps": [
        {
            "id": 21,
            "order": 10,
            "title": "Alert the escalations team",
            "kind": "notify",
            "automatic": True,
            "status": "done",
            "due_at": "2026-03-04T09:30:00Z",
            "done_by": None,
            "done_at": "2026-03-04T09:30:01Z",
            "comment": "",
            "result": "notified 3 of 3 recipient(s)",
        },
        {
            "id": 26,
            "order": 60,
            "title": "Confirm the defect with Product and get an ETA",
            "kind": "checklist",
            "automatic": False,
            "status": "done",
            "due_at": "2026-03-04T10:00:00Z",
            "done_by": {"id": 5, "username": "alice", "name": "Alice Agent"},
            "done_at": "2026-03-04T10:02:00Z",
            "comment": "Fix ships tonight, ETA 22:00 UTC.",
            "result": "done",
        },
    ],
    "case_count": 17,
    "visible_case_count": 12,
    "cases": [
        {
            "id": 42,
            "reference": "SC-000042",
            "subject": "My photos are gone",
            "status": "open",
            "priority": "high",
        }
    ],
}

INCIDENT_LIST = (
    "Crisis incidents, brand-wide: everyone with `socialcare.view_incident` sees every incident. "
    f"Each shows its steps and up to {CASES_SHOWN} linked cases, only those the caller may see "
    "(team rule), with `case_count` (all) and `visible_case_count`. For incremental sync, pass "
    "`updated_since` and follow `next`: the default order (oldest change first) counts a ticked "
    "step, a status change and a linked case as a change."
)
STEP = (
    "`done`: carry the step out now — a checklist item is ticked; a step with an effect (notify, "
    "assign a team, a holding reply, …) runs, and a failed step is tried again. The step ends "
    "`done`, or `failed` with the reason in `result`. `skip` needs a `comment`. A step already "
    "done or skipped is a 400. Needs `socialcare.change_incident`. Returns the incident."
)
STATUS = (
    "Move the incident open → contained → resolved (contained may go back to open; resolved is "
    "final, and lifts the approval of public replies). Any other move is a 409. Needs "
    "`socialcare.change_incident`. Returns the incident."
)
LINK = (
    "Link cases to the incident: each gets a timeline event, and the case-wide steps already "
    "done (route to a team, raise priority, holding reply, …) apply to it once. Only cases the "
    "caller may see; unknown, unseen or merged cases are a 400 and nothing is linked. Cases "
    "already linked are left as they are. Needs `socialcare.change_incident`."
)
OPEN = (
    "Escalate a case by hand: open an incident running `playbook` (its automatic steps run at "
    "once) with the case linked — or, when an incident of that playbook opened by hand is still "
    "active, link the case to it (200 instead of 201). Needs `socialcare.change_incident`; the "
    "case must be one the caller may see."
)

STEP_ID = OpenApiParameter(
    "step_id", OpenApiTypes.INT, OpenApiParameter.PATH, description="The incident step's id."
)

INCIDENT_DOCS = extend_schema_view(
    list=extend_schema(
        summary="List incidents",
        description=INCIDENT_LIST,
        responses={200: IncidentSerializer(many=True), **errors(*LIST_ERRORS)},
        examples=[_example("An incident", INCIDENT_EXAMPLE, response_only=True)],
    ),
    retrieve=extend_schema(
        summary="Get an incident",
        description="An incident with its evidence, playbook, detector, commander, the state of "
        f"each step, and up to {CASES_SHOWN} linked cases the caller may see.",
        responses={200: IncidentSerializer, **errors(*DETAIL_ERRORS)},
        examples=[_example("An incident", INCIDENT_EXAMPLE, response_only=True)],
    ),
    step=extend_schema(
        summary="Tick or skip an incident step",
        description=STEP,
        parameters=[STEP_ID],
        request=StepActionSerializer,
        responses={200: IncidentSerializer, **errors(*ACTION_ERRORS)},
        examples=[
            _example(
                "Tick",
                {"action": "done", "comment": "Fix ships tonight, ETA 22:00 UTC."},
                request_only=True,
            ),
            _example(
                "Skip",
                {"action": "skip", "comment": "Status page is down too; posted on X."},
                request_only=True,
            ),
            _example("The incident", INCIDENT_EXAMPLE, response_only=True),
        ],
    ),
    status=extend_schema(
        summary="Contain, reopen or resolve an incident",
        description=STATUS,
        request=IncidentStatusChangeSerializer,
        responses={200: IncidentSerializer, **errors(400, 401, 403, 404, 409, 415, 429)},
        examples=[
            _example(
                "Contain",
                {"status": "contained", "note": "Fix deployed; watching the volume."},
                request_only=True,
            ),
            _example(
                "Contained",
                {**INCIDENT_EXAMPLE, "status": "contained", "contained_at": "2026-03-04T22:10:00Z"},
                response_only=True,
            ),
        ],
    ),
    cases=extend_schema(
        summary="Link cases to an incident",
        description=LINK,
        request=LinkCasesSerializer,
        responses={200: IncidentSerializer, **errors(*ACTION_ERRORS)},
        examples=[
            _example("Two cases", {"cases": [42, 57]}, request_only=True),
            _example("The incident", INCIDENT_EXAMPLE, response_only=True),
        ],
    ),
    open_from_case=extend_schema(
        summary="Open an incident from a case",
        description=OPEN,
        request=OpenFromCaseSerializer,
        responses={
            201: OpenApiResponse(IncidentSerializer, description="A new incident."),
            200: OpenApiResponse(
                IncidentSerializer, description="The case joined the active incident."
            ),
            **errors(400, 401, 403, 415, 429),
        },
        examples=[
            _example(
                "Escalate",
                {
                    "case": 42,
                    "playbook": "legal-threat",
                    "title": "Influencer threatens a lawsuit",
                    "severity": "critical",
                },
                request_only=True,
            ),
            _example(
                "Opened",
                {**INCIDENT_EXAMPLE, "detector": None, "scope": "manual"},
                response_only=True,
                status_codes=[201, 200],
            ),
        ],
    ),
)

PLAYBOOK_DOCS = extend_schema_view(
    list=extend_schema(
        summary="List playbooks",
        description="Crisis-response plans, by name, each with its steps in order. Edit them in "
        "admin.",
        responses={200: PlaybookSerializer(many=True), **errors(*LIST_ERRORS)},
        examples=[_example("A playbook", PLAYBOOK_EXAMPLE, response_only=True)],
    ),
    retrieve=extend_schema(
        summary="Get a playbook",
        responses={200: PlaybookSerializer, **errors(*DETAIL_ERRORS)},
        examples=[_example("A playbook", PLAYBOOK_EXAMPLE, response_only=True)],
    ),
)

DETECTOR_DOCS = extend_schema_view(
    list=extend_schema(
        summary="List detectors",
        description="The crisis signals, by name: kind, scope (platform, channel), thresholds, "
        "the playbook each starts and when it last fired. Configure them in admin.",
        responses={200: DetectorSerializer(many=True), **errors(*LIST_ERRORS)},
        examples=[_example("A detector", DETECTOR_EXAMPLE, response_only=True)],
    ),
    retrieve=extend_schema(
        summary="Get a detector",
        responses={200: DetectorSerializer, **errors(*DETAIL_ERRORS)},
        examples=[_example("A detector", DETECTOR_EXAMPLE, response_only=True)],
    ),
)
