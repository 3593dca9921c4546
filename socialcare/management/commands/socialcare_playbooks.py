"""``manage.py socialcare_playbooks``: install the three ready crisis playbooks."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from socialcare.crisis_playbooks import install_playbooks


class Command(BaseCommand):
    help = (
        "Install the ready playbooks (product defect wave, service outage, influencer or legal "
        "threat) with their detectors and holding replies. Idempotent: existing ones are kept."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        for line in install_playbooks():
            self.stdout.write(line)
