"""The CSAT survey page a signed link opens: five choices and a comment, a plain HTML form that
works without JavaScript. A forged link is a 404 page, an expired one a 410 page."""

from __future__ import annotations

from django.contrib.auth.decorators import login_not_required
from django.core import signing
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from socialcare.exceptions import SocialCareError
from socialcare.models import Survey
from socialcare.services.csat import answers, messages
from socialcare.views.verify import no_referrer

CHOICES = [(1, "Very bad"), (2, "Bad"), (3, "OK"), (4, "Good"), (5, "Excellent")]


def _refused(request: HttpRequest, reason: str, message: str, status: int) -> HttpResponse:
    return render(
        request,
        "socialcare/csat/refused.html",
        {"reason": reason, "message": message},
        status=status,
    )


@never_cache
@login_not_required
@no_referrer
@require_http_methods(["GET", "POST"])
def survey(request: HttpRequest, token: str) -> HttpResponse:
    """GET: the form (or the answer already given). POST: record the rating."""
    try:
        survey_id = messages.read_token(token)
    except signing.SignatureExpired:
        return _refused(
            request, "expired", "Survey links work for a limited time; this one is over.", 410
        )
    except signing.BadSignature:
        return _refused(request, "invalid", "Please use the link exactly as we sent it.", 404)
    found = Survey.objects.select_related("case").filter(pk=survey_id).first()
    if found is None:
        return _refused(request, "invalid", "This survey no longer exists.", 404)
    if found.score is not None:
        return render(request, "socialcare/csat/done.html", {"survey": found, "already": True})
    context = {"survey": found, "choices": CHOICES, "chosen": None, "comment": ""}
    if request.method == "POST":
        comment = request.POST.get("comment", "")[:2000]
        raw = request.POST.get("score", "")
        context.update(comment=comment)
        score = int(raw) if raw.isdigit() else None
        if score is None or not 1 <= score <= 5:
            context["error"] = "Please choose a rating from 1 to 5."
            return render(request, "socialcare/csat/survey.html", context, status=400)
        try:
            found = answers.record_answer(found, score, text=comment, via=Survey.Via.LINK)
        except SocialCareError:
            found.refresh_from_db()
            return render(request, "socialcare/csat/done.html", {"survey": found, "already": True})
        return render(request, "socialcare/csat/done.html", {"survey": found})
    return render(request, "socialcare/csat/survey.html", context)
