"""The REST API (``/socialcare/api/v1/``): DRF viewsets over the services, django-filter
FilterSets, cursor pagination, API-key and session auth, OpenAPI 3 by drf-spectacular."""
