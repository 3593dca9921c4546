"""The support dashboard (Social care › Dashboard): charts over posts, cases and incidents.

An admin for the ``SupportDashboard`` proxy model whose changelist is the dashboard; nothing can be
added, changed or deleted through it. The numbers come from ``services.dashboard``, the drawings
from ``socialcare.charts``.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed
from django.template.response import TemplateResponse
from django.urls import URLPattern, path

from socialcare import charts
from socialcare.admin.base import ViewOnlyAdmin
from socialcare.conf import platform_choices
from socialcare.models import Team
from socialcare.services import dashboard as dashboard_services


class DashboardFilterForm(forms.Form):
    days = forms.TypedChoiceField(
        label="Range",
        coerce=int,
        choices=[(d, f"Last {d} days") for d in dashboard_services.RANGE_CHOICES],
        required=False,
    )
    team = forms.ModelChoiceField(
        label="Team", queryset=Team.objects.order_by("name"), required=False, empty_label="All"
    )
    platform = forms.ChoiceField(label="Platform", required=False)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["platform"].choices = [("", "All"), *platform_choices()]

    def values(self) -> dict[str, Any]:
        """The valid filters; a field with a bad value falls back to its default."""
        self.is_valid()
        data = getattr(self, "cleaned_data", {})
        return {
            "days": data.get("days") or dashboard_services.DEFAULT_DAYS,
            "team": data.get("team"),
            "platform": data.get("platform") or "",
        }


def _day_label(day: Any) -> str:
    return f"{day:%b} {day.day}"


def dashboard_charts(data: dashboard_services.Dashboard) -> dict[str, charts.Chart]:
    labels = [_day_label(d) for d in data.days]
    platform_labels = dict(platform_choices())
    totals = data.totals
    target = data.target_minutes
    return {
        "volume": charts.stacked_bar_chart(
            "Inbound posts per day by platform",
            labels,
            [charts.Series(platform_labels.get(p, p), data.volume[p]) for p in data.platforms],
            y_label="posts",
            description=f"{totals['posts']} posts in {len(labels)} days",
        ),
        "first_response": charts.line_chart(
            "First-response time per day (minutes)",
            labels,
            [charts.Series("p50 (median)", data.p50), charts.Series("p90", data.p90)],
            y_label="minutes",
            unit=" min",
            reference=(f"Target {target:g} min", target),
            description=(
                f"Over {totals['responded']} responded cases: median {totals['p50'] or '–'} min, "
                f"p90 {totals['p90'] or '–'} min"
            ),
        ),
        "sla_compliance": charts.line_chart(
            "First responses on time (% of responded cases per day)",
            labels,
            [charts.Series("Met", data.compliance, charts.PALETTE[2])],
            unit="%",
            y_max=100,
            y_label="% met",
            description=(
                f"{totals['compliance'] if totals['compliance'] is not None else '–'}% met of "
                f"{totals['responded']} responded; {data.breached_open} open cases breached now"
            ),
        ),
        "sentiment": charts.line_chart(
            "Negative posts (% of scored inbound posts per day)",
            labels,
            [charts.Series("Negative share", data.negative_share, charts.PALETTE[1])],
            unit="%",
            y_label="% negative",
            description=f"Posts with sentiment below {dashboard_services.NEGATIVE_BELOW}",
        ),
        "open_by_team": charts.bar_chart(
            "Open cases by team",
            [name for name, _ in data.open_by_team],
            [n for _, n in data.open_by_team],
            value_name="Open cases",
            description=f"{totals['open']} open cases",
        ),
        "incidents": charts.stacked_bar_chart(
            "Incidents opened per day",
            labels,
            [charts.Series("Incidents opened", data.incidents_opened, charts.PALETTE[3])],
            y_label="incidents",
            description=f"{data.active_incident_count} active now",
        ),
    }


class SupportDashboardAdmin(ViewOnlyAdmin):
    """Read-only: the changelist is the dashboard."""

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        user = request.user
        return user.is_active and (
            user.has_perm("socialcare.view_supportdashboard")
            or user.has_perm("socialcare.view_case")
        )

    def has_module_permission(self, request: HttpRequest) -> bool:
        return self.has_view_permission(request)

    def get_urls(self) -> list[URLPattern]:
        info = self.opts.app_label, self.opts.model_name
        return [
            path(
                "",
                self.admin_site.admin_view(self.changelist_view),
                name="{}_{}_changelist".format(*info),
            )
        ]

    def changelist_view(self, request: HttpRequest, extra_context: Any = None) -> HttpResponse:
        if not self.has_view_permission(request):
            raise PermissionDenied
        if request.method not in ("GET", "HEAD"):
            return HttpResponseNotAllowed(["GET", "HEAD"])
        params = request.GET.copy()
        params.setdefault("days", str(dashboard_services.DEFAULT_DAYS))
        form = DashboardFilterForm(params)
        filters = form.values()
        if form.errors:
            problems = " ".join(
                f"{form.fields[name].label}: {' '.join(errors)}"
                for name, errors in form.errors.items()
            )
            messages.warning(request, f"{problems} The default is shown instead.")
        data = dashboard_services.build_dashboard(request.user, **filters)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": "Dashboard",
            "subtitle": None,
            "form": form,
            "filters": filters,
            "data": data,
            "charts": dashboard_charts(data),
            **(extra_context or {}),
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(request, "socialcare/admin/dashboard/dashboard.html", context)
