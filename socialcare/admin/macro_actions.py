"""Running macros from admin: the case page's "Run macro" panel (``CaseMacroMixin``) and the
inbox's bulk action (``apply_macro_action``, with a confirmation page to pick the macro). Both
call ``services.macros``; a refusal is shown as an error message, nothing half-applied."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse

from socialcare.admin.inbox_actions import _bound, confirmation_page, report, selected_cases
from socialcare.models import Case, Macro
from socialcare.services import macros as macro_services


class MacroChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: Any) -> str:
        steps = "; ".join(a.describe() for a in obj.actions.all())
        return f"{obj.name} ({steps})" if steps else obj.name


class MacroForm(forms.Form):
    required_css_class = "required"

    macro = MacroChoiceField(
        queryset=None,
        label="Macro",
        help_text="Its actions run in order on each case. A case where one is refused is left "
        "unchanged and reported; the others are done.",
    )

    def __init__(self, *args: Any, user: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["macro"].queryset = offered(user)


def offered(user: Any) -> QuerySet[Macro]:
    """The macros to offer ``user``, with their actions for the labels."""
    return macro_services.usable_macros(user).prefetch_related("actions__template").order_by("name")


@admin.action(description="Run a macro on the selected cases…", permissions=["change"])
def apply_macro_action(
    modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet
) -> HttpResponse | None:
    cases = selected_cases(modeladmin, request, queryset)
    if cases is None:
        return None
    form = _bound(MacroForm, request, user=request.user)
    if not form.fields["macro"].queryset.exists():
        modeladmin.message_user(request, "No macro is available to you.", messages.ERROR)
        return None
    if form.is_bound and form.is_valid():
        macro = form.cleaned_data["macro"]
        result = macro_services.apply_macro_to_cases(cases, macro, actor=request.user)
        report(modeladmin, request, result, f"changed by the macro “{macro.name}”")
        return None
    return confirmation_page(
        modeladmin,
        request,
        cases,
        form,
        title="Run a macro",
        intro="Choose the macro to run on the selected cases. Each case gets one “Macro applied” "
        "event in its timeline listing what was done.",
        submit="Run macro",
    )


class CaseMacroMixin:
    """The case page's "Run macro" panel: its context and its POST handler (``_macro``)."""

    def macro_context(self, request: HttpRequest, can_act: bool) -> dict[str, Any]:
        return {"sc_macros": list(offered(request.user)) if can_act else []}

    def _macro(self, request: HttpRequest, case: Case) -> None:
        raw = request.POST.get("macro", "")
        macro = offered(request.user).filter(pk=raw).first() if raw.isdigit() else None
        if macro is None:
            raise macro_services.MacroRefused("Pick one of the macros offered to you.")
        result = macro_services.apply_macro(case, macro, actor=request.user)
        self.message_user(  # type: ignore[attr-defined]
            request,
            f"Macro “{macro.name}” applied: {'; '.join(result.done)}.",
            messages.SUCCESS,
        )
