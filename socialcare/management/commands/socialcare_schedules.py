"""``manage.py socialcare_schedules``: install socialcare's recurring django-q2 schedules."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from socialcare.tasks import install_schedules


class Command(BaseCommand):
    help = "Create or update socialcare's recurring schedules (polling, stuck-delivery sweeper). Idempotent."

    def handle(self, *args: Any, **options: Any) -> None:
        for line in install_schedules():
            self.stdout.write(line)
