from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class SocialCareConfig(AppConfig):
    name = "socialcare"
    verbose_name = _("Social care")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from socialcare import (
            checks,  # noqa: F401  (registers the system checks)
            outbound_signals,
            tasks,
        )
        from socialcare.services import customer_delete

        outbound_signals.connect()
        customer_delete.connect()
        tasks.connect()  # a worker that starts takes over its dead predecessor's deliveries
