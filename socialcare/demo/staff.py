"""The demo's staff in their support roles, and the two who log in besides ``admin``.

``set_up_demo_staff(password)`` installs the roles (``services.roles``), puts every agent of the
demo teams in "Support agent" and the supervisor in "Support supervisor", and gives the demo
logins the password the demo prints. It runs on every ``socialcare_demo`` (so a new password
reaches all logins); the demo data itself (``socialcare.demo.loader``) knows nothing of roles.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth import get_user_model

from socialcare.demo.data import TEAMS
from socialcare.models import TeamMembership
from socialcare.services.roles import AGENT, SUPERVISOR, assign_role, install_roles

__all__ = ["DEMO_LOGINS", "DemoLogin", "set_up_demo_staff"]

#: Who logs in to the demo besides the superuser: username -> role. Maya works the Social Care
#: queue; Hannah leads Escalations and supervises everyone.
DEMO_LOGINS = {"maya": AGENT, "hannah": SUPERVISOR}


@dataclass(frozen=True)
class DemoLogin:
    username: str
    role: str
    teams: tuple[str, ...]


def set_up_demo_staff(password: str) -> list[DemoLogin]:
    """Roles for the demo's agents and ``password`` for the demo logins; returns the logins.

    Agents created by ``load_demo_data`` are expected; ones that are missing (the data was never
    loaded, or a host CRM deleted them) are left out."""
    install_roles()
    User = get_user_model()
    usernames = [username for _, _, members in TEAMS.values() for username, _, _ in members]
    users = {
        user.get_username(): user
        for user in User._default_manager.filter(**{f"{User.USERNAME_FIELD}__in": usernames})
    }
    logins = []
    for username, user in users.items():
        role = DEMO_LOGINS.get(username, AGENT)
        assign_role(user, role)
        if username in DEMO_LOGINS:
            user.set_password(password)
            user.is_active = True
            user.save()
            teams = TeamMembership.objects.filter(user=user).order_by("team__name")
            logins.append(
                DemoLogin(username, role, tuple(teams.values_list("team__name", flat=True)))
            )
    return sorted(logins, key=lambda login: list(DEMO_LOGINS).index(login.username))
