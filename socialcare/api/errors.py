"""One JSON error shape for every 4xx: ``{"code": ..., "detail": ..., "errors": {...}}``."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_handler

from socialcare.exceptions import IllegalTransition, MergeError, SocialCareError


def _flatten(detail: Any) -> Any:
    if isinstance(detail, dict):
        return {key: _flatten(value) for key, value in detail.items()}
    if isinstance(detail, list):
        return [_flatten(item) for item in detail]
    return str(detail)


def _first_message(detail: Any) -> str:
    """The first message in ``detail`` (a message, or lists and dicts of them, as DRF nests them
    for list items and nested objects): a sentence, never a Python list or dict printed."""
    if isinstance(detail, dict):
        detail = list(detail.values())
    if isinstance(detail, list | tuple):
        for item in detail:
            message = _first_message(item)
            if message:
                return message
        return ""
    return str(detail)


def exception_handler(exc: Exception, context: dict) -> Response | None:
    """Turn every client error into the one shape; leave real server errors to Django."""
    if isinstance(exc, IllegalTransition | MergeError):
        return Response(
            {"code": exc.code, "detail": " ".join(exc.messages)}, status=status.HTTP_409_CONFLICT
        )
    if isinstance(exc, SocialCareError | DjangoValidationError):
        # Never ``errors: {}``: a message about no one field is a ``non_field_errors`` one.
        errors = (
            exc.message_dict if hasattr(exc, "error_dict") else {"non_field_errors": exc.messages}
        )
        return Response(
            {
                "code": getattr(exc, "code", None) or "invalid",
                "detail": " ".join(exc.messages),
                "errors": errors,
            },
            status=status.HTTP_400_BAD_REQUEST,
        )
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    response = drf_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.ValidationError):
        errors = _flatten(exc.detail)
        if isinstance(errors, list):
            errors = {"non_field_errors": errors}
        detail = _first_message(errors) or "Invalid input."
        if not errors:
            errors = {"non_field_errors": [detail]}
        response.data = {"code": "invalid", "detail": detail, "errors": errors}
    else:
        detail = exc.detail if isinstance(exc, exceptions.APIException) else str(exc)
        code = exc.get_codes() if isinstance(exc, exceptions.APIException) else "error"
        response.data = {
            "code": code if isinstance(code, str) else "error",
            "detail": _first_message(detail) or "Error.",
        }
    return response
