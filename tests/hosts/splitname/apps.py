from django.apps import AppConfig


class SplitNameConfig(AppConfig):
    name = "tests.hosts.splitname"
    label = "hosts_splitname"
    verbose_name = "CRM"
    default_auto_field = "django.db.models.BigAutoField"
