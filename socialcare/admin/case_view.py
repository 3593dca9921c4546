"""The case page: the agent's workspace for one case (timeline, customer, SLA, reply composer with
tone check, hand-off, notes, work controls, approvals, escalation). Each action is its own POST
URL that calls a service and redirects back to the page (post/redirect/get); what the agent typed
survives a refusal as a draft kept in the session."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseNotAllowed, JsonResponse
from django.shortcuts import redirect
from django.urls import NoReverseMatch, path, reverse
from django.utils import timezone

from socialcare.admin.case_forms import (
    ADD_FIELDSETS,
    CHANGE_FIELDSETS,
    CHANGE_READONLY,
    CaseDetailsForm,
    CaseForm,
    CaseHistoryFieldsMixin,
)
from socialcare.admin.case_presence import CasePresenceMixin, refuse_stale_reply, reply_since
from socialcare.admin.macro_actions import CaseMacroMixin
from socialcare.admin.moderation import CaseModerationMixin
from socialcare.admin.viewer import ViewerAdminMixin, viewer_for
from socialcare.models import Case, Playbook, Post, ReplyTemplate, Visibility
from socialcare.services import cases as case_services
from socialcare.services import replies as reply_services
from socialcare.services.access import can_see_case
from socialcare.services.case_page import (
    TIMELINE_PAGE,
    build_case_page,
    customer_sentiment,
    load_case,
)
from socialcare.services.collision import (
    ConversationChanged,
    changes_since,
    send_reply_if_unchanged,
)
from socialcare.services.handoff import hand_off
from socialcare.services.incidents import open_incident_from_case
from socialcare.services.presence import stop_typing
from socialcare.services.templates import render_reply_template, text_limit
from socialcare.services.tone import tone_warnings
from socialcare.services.verification import create_link as create_verification_link
from socialcare.services.verification import provider_for

HELD_MESSAGE = (
    "This case is part of an incident that requires approval: the reply is held until another "
    "agent approves it."
)


class CaseWorkspaceMixin(
    CasePresenceMixin,
    CaseMacroMixin,
    CaseModerationMixin,
    CaseHistoryFieldsMixin,
    ViewerAdminMixin,
    admin.ModelAdmin,
):
    """The change view of ``CaseAdmin`` (the inbox lives in ``socialcare.admin.cases``)."""

    form = CaseForm
    change_form_template = "socialcare/admin/case/change_form.html"
    raw_id_fields = ["customer", "identity", "assignee"]
    autocomplete_fields = ["channel", "team"]

    def get_fieldsets(self, request: HttpRequest, obj: Any = None) -> list:
        return CHANGE_FIELDSETS if obj is not None else ADD_FIELDSETS

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return CHANGE_READONLY if obj is not None else []

    def get_form(self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any):
        kwargs["form"] = CaseDetailsForm if obj is not None else CaseForm
        return super().get_form(request, obj, change=change, **kwargs)

    def get_inlines(self, request: HttpRequest, obj: Any) -> list:
        return []  # the timeline shows posts and events

    def save_model(self, request: HttpRequest, obj: Case, form: CaseForm, change: bool) -> None:
        data = form.cleaned_data
        try:
            if not change:
                opened = case_services.open_case(
                    channel=data.get("channel"),
                    identity=data.get("identity"),
                    customer=data.get("customer"),
                    subject=data.get("subject", ""),
                    priority=data["priority"],
                    visibility=data["visibility"],
                    team=data.get("team"),
                    actor=request.user,
                )
                obj.pk = opened.pk
                obj.refresh_from_db()
                edits = {"assignee": data.get("assignee")} if data.get("assignee") else {}
            else:
                editable = {"subject", "customer", "team"}
                edits = {f: data[f] for f in form.changed_data if f in editable}
            if "tag_names" in form.changed_data:
                edits["tags"] = data["tag_names"]
            # The form already wrote its values onto ``obj``: the services compare with a
            # fresh copy, or an edited subject would look unchanged.
            case_services.update_case(Case.objects.get(pk=obj.pk), actor=request.user, **edits)
            if data.get("note"):
                case_services.add_note(obj, data["note"], actor=request.user)
        except ValidationError as exc:
            self.message_user(request, " ".join(exc.messages), messages.ERROR)
        obj.refresh_from_db()

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        # Tags were saved through set_tags() in save_model, so no form.save_m2m() here.
        for formset in formsets:
            self.save_formset(request, form, formset, change=change)

    # The page ----------------------------------------------------------------------------------

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        pk = unquote(object_id)
        if pk.isdigit() and not can_see_case(request.user, Case(pk=int(pk))):
            raise Http404("No such case.")
        return super().change_view(request, object_id, form_url, extra_context)

    def render_change_form(
        self,
        request: HttpRequest,
        context: dict[str, Any],
        add: bool = False,
        change: bool = False,
        form_url: str = "",
        obj: Any = None,
    ) -> HttpResponse:
        if change and obj is not None:
            context.update(self.workspace_context(request, obj))
        return super().render_change_form(request, context, add, change, form_url, obj)

    def workspace_context(self, request: HttpRequest, obj: Case) -> dict[str, Any]:
        now = timezone.now()  # before reading: the reply form's "seen at" (collision guard)
        case = load_case(obj.pk)
        try:
            limit = int(request.GET.get("timeline", TIMELINE_PAGE))
        except ValueError:
            limit = TIMELINE_PAGE
        page = build_case_page(case, request.user, timeline_limit=limit, viewer=viewer_for(request))
        draft = request.session.pop(_draft_key(case), {}) if hasattr(request, "session") else {}
        if not draft.get("visibility"):
            # A case taken private (or private from the start) is answered privately.
            private = case.visibility == Visibility.PRIVATE
            draft["visibility"] = Visibility.PRIVATE if private else Visibility.PUBLIC
        can_act = self.has_change_permission(request, case)
        return {
            "sc": page,
            "sc_draft": draft,
            "sc_can_act": can_act,
            "sc_can_escalate": can_act and request.user.has_perm("socialcare.add_incident"),
            "sc_urls": {name.replace("-", "_"): self._case_url(name, case) for name in ACTIONS},
            "sc_customer_url": self._customer_url(page.customer.customer),
            "sc_can_verify": can_act
            and case.identity_id is not None
            and not case.identity.is_owner_verified
            and bool(provider_for(case.identity.platform)),
            "sc_reply_limit": page.limits.get(draft.get("visibility") or Visibility.PUBLIC),
            "sc_moderation": self.moderation_context(request, page) if can_act else {},
            **self.macro_context(request, can_act),
            **self.presence_context(request, case, now),
        }

    # Actions -----------------------------------------------------------------------------------

    def get_urls(self) -> list:
        def action(name: str, handler: Callable, extra: str = "") -> Any:
            def view(request: HttpRequest, object_id: str, **kwargs: Any) -> HttpResponse:
                return self._run(request, object_id, handler, **kwargs)

            return path(
                f"<path:object_id>/{name}/{extra}",
                self.admin_site.admin_view(view),
                name=f"socialcare_case_{name.replace('-', '_')}",
            )

        urls = [
            action("tone-check", self._tone_check),
            action("reply", self._reply),
            action("hand-off", self._hand_off),
            action("note", self._note),
            action("work", self._work),
            action("approve", self._approve, "<int:post_id>/"),
            action("reject", self._reject, "<int:post_id>/"),
            action("open-incident", self._open_incident),
            action("verify-link", self._verify_link),
            action("macro", self._macro),
            *self.moderation_urls(action),
            *self.presence_urls(),
        ]
        return urls + super().get_urls()

    def _run(self, request: HttpRequest, object_id: str, handler: Callable, **kwargs: Any):
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        pk = unquote(object_id)
        case = Case.objects.filter(pk=int(pk)).first() if pk.isdigit() else None
        if case is None or not can_see_case(request.user, case):
            raise Http404("No such case.")
        if not self.has_change_permission(request, case):
            raise PermissionDenied
        try:
            response = handler(request, case, **kwargs)
        except ValidationError as exc:  # SocialCareError and IllegalTransition are ones too
            self.message_user(request, " ".join(exc.messages), messages.ERROR)
            response = None
        return response or redirect(self._case_url("page", case))

    def _tone_check(self, request: HttpRequest, case: Case) -> HttpResponse:
        text = request.POST.get("text", "")
        visibility = request.POST.get("visibility") or Visibility.PUBLIC
        if visibility not in Visibility.values:
            return JsonResponse({"error": "visibility must be public or private"}, status=400)
        warnings = tone_warnings(text, sentiment=customer_sentiment(case), visibility=visibility)
        platform = case.channel.platform if case.channel_id else ""
        return JsonResponse(
            {
                "warnings": [w.as_dict() for w in warnings],
                "length": len(text),
                "limit": text_limit(platform, visibility),
            }
        )

    def _reply(self, request: HttpRequest, case: Case) -> HttpResponse | None:
        text = request.POST.get("text", "")
        draft: dict[str, Any] = {
            "text": text,
            "visibility": request.POST.get("visibility", ""),
            "seen_at": request.POST.get("seen_at", ""),
        }
        try:
            return self._send(request, case, text, draft)
        except ValidationError:
            _keep_draft(request, case, reply=True, **draft)
            raise

    def _send(
        self, request: HttpRequest, case: Case, text: str, draft: dict[str, Any]
    ) -> HttpResponse | None:
        visibility = _visibility(request)
        template = _template(request.POST.get("template"))
        draft["template"] = template.pk if template else ""
        if not text.strip() and template is not None:
            text = draft["text"] = render_reply_template(template, load_case(case.pk), request.user)
        if not text.strip():
            raise ValidationError("Write a reply (or pick a canned one) first.")
        since = reply_since(request.POST)
        changes = changes_since(case, since, user=request.user) if since else None
        warnings = tone_warnings(text, sentiment=customer_sentiment(case), visibility=visibility)
        if warnings and not request.POST.get("send_anyway"):
            _keep_draft(
                request, case, reply=True, **draft, warnings=[w.as_dict() for w in warnings]
            )
            if not changes:
                self.message_user(
                    request,
                    "Not sent yet: check the tone warnings below, edit the reply, or tick "
                    "“Send anyway” and send again.",
                    messages.WARNING,
                )
        if changes:
            keep = functools.partial(_keep_draft, request, case, reply=True, **draft)
            refuse_stale_reply(self, request, changes, keep)
        if changes or (warnings and not request.POST.get("send_anyway")):
            return redirect(self._case_url("page", case) + "#sc-reply-form")
        try:
            post = send_reply_if_unchanged(
                case,
                text,
                since=since,
                actor=request.user,
                visibility=visibility,
                template=template,
            )
        except ConversationChanged as changed:  # arrived between the check and the send
            keep = functools.partial(_keep_draft, request, case, reply=True, **draft)
            refuse_stale_reply(self, request, changed.changes, keep)
            return redirect(self._case_url("page", case) + "#sc-reply-form")
        stop_typing(case, request.user)
        if post.send_status == Post.SendStatus.AWAITING_APPROVAL:
            self.message_user(request, HELD_MESSAGE, messages.WARNING)
        else:
            self.message_user(request, "Reply queued for sending.", messages.SUCCESS)
        return None

    def _hand_off(self, request: HttpRequest, case: Case) -> None:
        via = request.POST.get("via", "")
        note_template = _template(request.POST.get("note_template"))
        public_note = request.POST.get("public_note", "").strip()
        private_message = request.POST.get("private_message", "").strip()
        try:
            hand_off(
                case,
                via,
                actor=request.user,
                public_note=public_note or None,
                note_template=None if public_note else note_template,
                private_message=private_message,
            )
        except ValidationError:
            _keep_draft(
                request,
                case,
                handoff=True,
                via=via,
                note_template=note_template.pk if note_template else "",
                public_note=public_note,
                private_message=private_message,
            )
            raise
        self.message_user(
            request,
            f"Taken private via {Case.HandOff(via).label.lower()}.",
            messages.SUCCESS,
        )

    def _note(self, request: HttpRequest, case: Case) -> None:
        text = request.POST.get("text", "")
        case_services.add_note(case, text, actor=request.user)
        self.message_user(request, "Note added.", messages.SUCCESS)

    def _work(self, request: HttpRequest, case: Case) -> None:
        edits: dict[str, Any] = {}
        status = request.POST.get("status") or case.status
        if status != case.status:
            edits["status"] = status
        priority = request.POST.get("priority") or case.priority
        if priority != case.priority:
            edits["priority"] = priority
        raw_assignee = request.POST.get("assignee", "")
        assignee = None
        if raw_assignee:
            users = get_user_model().objects.filter(is_active=True, is_staff=True)
            assignee = users.filter(pk=raw_assignee).first() if raw_assignee.isdigit() else None
            if assignee is None:
                raise ValidationError("Pick an active staff member as assignee.")
        if (assignee.pk if assignee else None) != case.assignee_id:
            edits["assignee"] = assignee
        if not edits:
            self.message_user(request, "Nothing changed.", messages.INFO)
            return
        case_services.update_case(case, actor=request.user, **edits)
        self.message_user(request, f"Saved: {', '.join(edits)}.", messages.SUCCESS)

    def _held_post(self, case: Case, post_id: int) -> Post:
        post = Post.objects.filter(pk=post_id, case=case).first()
        if post is None:
            raise Http404("No such reply on this case.")
        return post

    def _approve(self, request: HttpRequest, case: Case, post_id: int) -> None:
        reply_services.approve_reply(self._held_post(case, post_id), approver=request.user)
        self.message_user(request, "Reply approved and queued for sending.", messages.SUCCESS)

    def _reject(self, request: HttpRequest, case: Case, post_id: int) -> None:
        reason = request.POST.get("reason", "").strip()
        reply_services.reject_reply(
            self._held_post(case, post_id), approver=request.user, reason=reason
        )
        self.message_user(request, "Reply rejected; it will not be sent.", messages.SUCCESS)

    def _verify_link(self, request: HttpRequest, case: Case) -> None:
        """A one-use sign-in link that proves the customer owns the case's identity; shown once,
        and sent to the customer as a direct message when asked."""
        link = create_verification_link(case, actor=request.user)
        url = request.build_absolute_uri(link.path)
        if request.POST.get("send"):
            reply_services.send_reply(
                case,
                VERIFY_MESSAGE.format(url=url),
                actor=request.user,
                visibility=Visibility.PRIVATE,
            )
            self.message_user(
                request, "Verification link sent to the customer by direct message.", messages.INFO
            )
        self.message_user(
            request,
            f"Verification link (shown once, valid until "
            f"{link.verification.expires_at:%Y-%m-%d %H:%M %Z}): {url}",
            messages.SUCCESS,
        )

    def _open_incident(self, request: HttpRequest, case: Case) -> HttpResponse:
        if not request.user.has_perm("socialcare.add_incident"):
            raise PermissionDenied
        playbook = None
        raw = request.POST.get("playbook", "")
        if raw:
            playbook = (
                Playbook.objects.filter(pk=raw, is_active=True).first() if raw.isdigit() else None
            )
            if playbook is None:
                raise ValidationError("Pick one of the active playbooks.")
        incident = open_incident_from_case(
            case, actor=request.user, title=request.POST.get("title", "").strip(), playbook=playbook
        )
        self.message_user(request, f"Incident #{incident.pk} opened from {case.reference}.")
        return redirect(
            reverse(
                "admin:socialcare_incident_change",
                args=[incident.pk],
                current_app=self.admin_site.name,
            )
        )

    def _case_url(self, name: str, case: Case) -> str:
        """The case page (``"page"``) or one of its actions, on this admin site."""
        view = "change" if name == "page" else name.replace("-", "_")
        return reverse(
            f"admin:socialcare_case_{view}", args=[case.pk], current_app=self.admin_site.name
        )

    def _customer_url(self, customer: Any) -> str:
        """The customer's page on this admin site; none when the site has no admin for the
        (possibly swapped) customer model."""
        if customer is None or not self.admin_site.is_registered(type(customer)):
            return ""
        opts = customer._meta
        try:
            return reverse(
                f"admin:{opts.app_label}_{opts.model_name}_change",
                args=[customer.pk],
                current_app=self.admin_site.name,
            )
        except NoReverseMatch:  # a host admin without a change view
            return ""


VERIFY_MESSAGE = (
    "To confirm this account is yours, please sign in here (the link works once and expires "
    "soon): {url}"
)

ACTIONS = (
    "tone-check",
    "reply",
    "hand-off",
    "note",
    "work",
    "open-incident",
    "verify-link",
    "macro",
)


def _visibility(request: HttpRequest) -> str:
    value = request.POST.get("visibility") or Visibility.PUBLIC
    if value not in Visibility.values:
        raise ValidationError(f"Send as public or private, not {value!r}.")
    return value


def _template(raw: str | None) -> ReplyTemplate | None:
    if not raw:
        return None
    template = ReplyTemplate.objects.active().filter(pk=raw).first() if raw.isdigit() else None
    if template is None:
        raise ValidationError("That canned reply is not available any more.")
    return template


def _draft_key(case: Case) -> str:
    return f"socialcare:case:{case.pk}:draft"


def _keep_draft(request: HttpRequest, case: Case, **values: Any) -> None:
    """Keep what the agent typed for the next render of the page (it is shown once)."""
    key = _draft_key(case)
    request.session[key] = {**request.session.get(key, {}), **values}
