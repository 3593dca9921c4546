"""The reader of an admin page (``services.access.Viewer``), handed to what the page renders.

Admin columns and read-only fields are methods of the (shared) ``ModelAdmin`` that receive only
the object, not the request. ``ViewerAdminMixin`` therefore gives each object a page renders its
reader: the change page's object (``get_object``) and the rows of the list (after the list
loaded its page, in one batch: ``prepare_rows``). ``viewer_of(obj)`` reads it back.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.contrib.admin.views.main import ChangeList
from django.http import HttpRequest

from socialcare.services.access import OTHER_TEAM_CASE, Viewer, reference_pattern

_REQUEST_ATTR = "socialcare_viewer"
_OBJECT_ATTR = "_socialcare_viewer"
_CHANGELISTS: dict[type, type] = {}


def viewer_for(request: HttpRequest) -> Viewer:
    """The request's reader: one ``Viewer`` per request (it remembers its answers)."""
    viewer = getattr(request, _REQUEST_ATTR, None)
    if viewer is None or viewer.user is not request.user:
        viewer = Viewer(request.user)
        setattr(request, _REQUEST_ATTR, viewer)
    return viewer


def attach(viewer: Viewer, objects: Iterable[Any]) -> None:
    for obj in objects:
        setattr(obj, _OBJECT_ATTR, viewer)


def viewer_of(obj: Any) -> Viewer | None:
    """The reader ``obj`` is rendered for; None when it reached a page another way (then
    render it as for a reader who sees nothing of other teams)."""
    return getattr(obj, _OBJECT_ATTR, None)


def hidden_text(obj: Any, text: str) -> str:
    """``text`` as ``obj``'s reader may read it (every case reference hidden without one)."""
    viewer = viewer_of(obj)
    if viewer is not None:
        return viewer.text(text)
    return reference_pattern().sub(OTHER_TEAM_CASE, text or "")


def _changelist_with_viewer(base: type[ChangeList]) -> type[ChangeList]:
    if base not in _CHANGELISTS:

        class ViewerChangeList(base):  # type: ignore[valid-type, misc]
            def get_results(self, request: HttpRequest) -> None:
                super().get_results(request)
                rows = list(self.result_list)
                self.result_list = self.model_admin.prepare_rows(viewer_for(request), rows)

        ViewerChangeList.__name__ = f"Viewer{base.__name__}"
        _CHANGELISTS[base] = ViewerChangeList
    return _CHANGELISTS[base]


class ViewerAdminMixin:
    """Give the objects a ``ModelAdmin`` renders their reader (``viewer_of``). Override
    ``prepare_rows`` to prepare the reader for a page of rows at once, or to replace rows by
    what this reader may read of them."""

    def get_object(self, request: HttpRequest, object_id: str, from_field: Any = None) -> Any:
        obj = super().get_object(request, object_id, from_field)  # type: ignore[misc]
        if obj is not None:
            attach(viewer_for(request), [obj])
        return obj

    def get_changelist(self, request: HttpRequest, **kwargs: Any) -> type[ChangeList]:
        return _changelist_with_viewer(super().get_changelist(request, **kwargs))  # type: ignore[misc]

    def prepare_rows(self, viewer: Viewer, rows: list[Any]) -> list[Any]:
        attach(viewer, rows)
        return rows


class AllCasesOnlyMixin:
    """An admin whose ``all_cases_only`` fields, list columns and search fields hold content of
    any team's cases that cannot be told apart (raw webhook bodies, payloads sent, receivers'
    answers echoing them): shown to, and searched by, readers who see every case only."""

    all_cases_only: tuple[str, ...] = ()

    def _drop(self, request: HttpRequest, names: Iterable[str]) -> list[str]:
        names = list(names)
        if viewer_for(request).sees_all:
            return names
        return [n for n in names if n not in self.all_cases_only]

    def get_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return self._drop(request, super().get_fields(request, obj))  # type: ignore[misc]

    def get_list_display(self, request: HttpRequest) -> list[str]:
        return self._drop(request, super().get_list_display(request))  # type: ignore[misc]

    def get_search_fields(self, request: HttpRequest) -> list[str]:
        return self._drop(request, super().get_search_fields(request))  # type: ignore[misc]
