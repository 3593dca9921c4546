"""What every socialcare API view shares, so a host needs no REST_FRAMEWORK settings."""

from __future__ import annotations

from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.openapi import AutoSchema
from rest_framework import authentication, filters, viewsets
from rest_framework.parsers import JSONParser
from rest_framework.renderers import JSONRenderer

from socialcare.api.auth import ApiKeyAuthentication
from socialcare.api.errors import exception_handler
from socialcare.api.pagination import SyncCursorPagination
from socialcare.api.permissions import KeyScope, ModelPermissions, StaffOnly
from socialcare.api.throttling import PerKeyThrottle


class ApiMixin:
    authentication_classes = [ApiKeyAuthentication, authentication.SessionAuthentication]
    permission_classes = [StaffOnly, KeyScope, ModelPermissions]
    throttle_classes = [PerKeyThrottle]
    pagination_class = SyncCursorPagination
    filter_backends = [DjangoFilterBackend, filters.SearchFilter, filters.OrderingFilter]
    renderer_classes = [JSONRenderer]
    parser_classes = [JSONParser]
    schema = AutoSchema()

    def get_exception_handler(self):
        return exception_handler


class ReadOnlyViewSet(ApiMixin, viewsets.ReadOnlyModelViewSet):
    pass


class ModelViewSet(ApiMixin, viewsets.ModelViewSet):
    pass


class GenericViewSet(ApiMixin, viewsets.GenericViewSet):
    pass
