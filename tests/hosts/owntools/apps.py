from django.apps import AppConfig


class OwnToolsConfig(AppConfig):
    name = "tests.hosts.owntools"
    label = "hosts_owntools"
    verbose_name = "Billing"
    default_auto_field = "django.db.models.BigAutoField"
