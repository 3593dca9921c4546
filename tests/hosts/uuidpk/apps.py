from django.apps import AppConfig


class UUIDPKConfig(AppConfig):
    name = "tests.hosts.uuidpk"
    label = "hosts_uuidpk"
    verbose_name = "People"
    default_auto_field = "django.db.models.BigAutoField"
