"""``CurrentUserMiddleware``: who deletes a customer, a user or a team in a request.

Django's delete signals carry no request, so the case events socialcare writes when the host
deletes a customer (docs/customers.md) name the request's signed-in user only when this
middleware is in ``MIDDLEWARE`` (after ``AuthenticationMiddleware``); otherwise "unknown". Outside
requests, ``socialcare.services.customer_delete.acting_as(user)`` does the same.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.http import HttpRequest, HttpResponse

from socialcare.services.customer_delete import acting_as


class CurrentUserMiddleware:
    """Make ``request.user`` the acting user for the request (read only when a delete asks)."""

    sync_capable = True
    async_capable = True

    def __init__(self, get_response: Callable[[HttpRequest], Any]) -> None:
        self.get_response = get_response
        self.is_async = iscoroutinefunction(get_response)
        if self.is_async:
            markcoroutinefunction(self)

    def __call__(self, request: HttpRequest) -> Any:
        if self.is_async:
            return self._acall(request)
        with acting_as(lambda: getattr(request, "user", None)):
            return self.get_response(request)

    async def _acall(self, request: HttpRequest) -> HttpResponse:
        with acting_as(lambda: getattr(request, "user", None)):
            return await self.get_response(request)
