"""The "merge selected" admin action: pick the record to keep on a confirmation page."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse

#: The most records one merge confirmation lists (each selected record is shown and posted back).
MAX_MERGE = 50


def merge_action(
    merge: Callable[..., Any],
    *,
    description: str,
    permission: str,
    describe: Callable[[Any], str] | None = None,
) -> Callable[[admin.ModelAdmin, HttpRequest, QuerySet], HttpResponse | None]:
    """Build an admin action that merges the selected records into the one the user keeps.

    ``merge(source, target, actor=user)`` is the service that does the work, once per source;
    ``describe(result)``, if given, what to tell the user of each merge beyond "merged".
    """

    @admin.action(description=description, permissions=[permission])
    def action(modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet) -> Any:
        objects = list(queryset[: MAX_MERGE + 1])
        if len(objects) > MAX_MERGE:
            modeladmin.message_user(
                request,
                f"Merge at most {MAX_MERGE} records at a time; narrow the selection.",
                messages.WARNING,
            )
            return None
        if len(objects) < 2:
            modeladmin.message_user(
                request, "Select at least two records to merge.", messages.WARNING
            )
            return None
        keep_pk = request.POST.get("keep")
        if request.POST.get("confirm") == "yes" and keep_pk:
            target = next((o for o in objects if str(o.pk) == keep_pk), None)
            if target is None:
                modeladmin.message_user(
                    request, "Pick one of the selected records to keep.", messages.ERROR
                )
                return None
            merged = 0
            for source in objects:
                if source.pk == target.pk:
                    continue
                try:
                    result = merge(source, target, actor=request.user)
                    merged += 1
                except ValidationError as exc:
                    modeladmin.message_user(
                        request, f"{source}: {' '.join(exc.messages)}", messages.ERROR
                    )
                    continue
                said = describe(result) if describe is not None else ""
                if said:
                    modeladmin.message_user(request, f"{source}: {said}", messages.INFO)
            if merged:
                modeladmin.message_user(
                    request, f"Merged {merged} record(s) into {target}.", messages.SUCCESS
                )
            return None
        opts = modeladmin.model._meta
        context = {
            **modeladmin.admin_site.each_context(request),
            "title": f"Merge {opts.verbose_name_plural}",
            "opts": opts,
            "objects": objects,
            "action_name": request.POST.get("action", ""),
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
            "select_across": request.POST.get("select_across", "0"),
        }
        return TemplateResponse(request, "socialcare/admin/merge_confirm.html", context)

    return action
