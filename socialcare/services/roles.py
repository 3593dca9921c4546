"""The three support roles as Django groups: agent, supervisor, admin (see docs/roles.md).

``install_roles()`` creates the groups and sets each one's permissions to exactly its definition
(idempotent: a second run changes nothing). ``assign_role()`` puts a staff user in one role.
Installed by ``manage.py socialcare_roles``, never by a migration or a signal: a deploy runs the
command on purpose, and groups an integrator edited are only reset when someone asks for it.

Which cases a role holder sees is not a permission but the team rule (``services.access``): an
agent sees the cases of their teams, their own and unowned ones; ``socialcare.view_all_cases``
(supervisors, admins) sees all.
"""

from __future__ import annotations

from typing import Any

from django.apps import apps
from django.contrib.auth import get_user_model
from django.contrib.auth.management import create_permissions
from django.contrib.auth.models import Group, Permission
from django.db import transaction
from django.db.models import Q

from socialcare.exceptions import SocialCareError
from socialcare.models import get_customer_model

AGENT = "Support agent"
SUPERVISOR = "Support supervisor"
ADMIN = "Support admin"
#: The support roles, least to most powerful. A user holds at most one of them.
ROLES = (AGENT, SUPERVISOR, ADMIN)
#: Short names ``socialcare_roles --assign`` also accepts.
ROLE_ALIASES = {"agent": AGENT, "supervisor": SUPERVISOR, "admin": ADMIN}

#: Stands for the customer model's app label and model name (swappable: socialcare.Customer, or
#: the host CRM's own model).
CUSTOMER = "customer"
CRUD = ("add", "change", "delete", "view")

# "app_label.codename"; "customer.<action>" means <action>_<model> on the customer model.
AGENT_PERMISSIONS = (
    # Work cases: read and change them, reply (an outbound post) and add notes.
    "socialcare.view_case",
    "socialcare.change_case",
    "socialcare.view_post",
    "socialcare.add_post",
    "socialcare.view_caseevent",
    # What the case page shows around the case.
    "customer.view",
    "socialcare.view_socialidentity",
    "socialcare.view_channel",
    "socialcare.view_team",
    "socialcare.view_teammembership",
    "socialcare.view_replytemplate",
    "socialcare.view_tag",
    "socialcare.view_slapolicy",
    # Links that let a customer prove they own an identity (an agent creates them from a case).
    "socialcare.view_identityverification",
    # Incidents: follow them and tick checklist steps (done / skipped), not contain or resolve.
    "socialcare.view_incident",
    "socialcare.view_incidentevent",
    "socialcare.view_incidentstep",
    "socialcare.change_incidentstep",
    "socialcare.view_playbook",
    "socialcare.view_playbookstep",
    # What the playbooks sent customers by themselves (services.automatic_messages).
    "socialcare.view_automaticmessage",
    # Customers' satisfaction surveys and answers (services.csat).
    "socialcare.view_survey",
    # Hide (and unhide) an abusive comment on the platform; deleting is the supervisor's.
    "socialcare.hide_post",
    # Run macros (issue #20); only admins create and edit them.
    "socialcare.view_macro",
    "socialcare.view_macroaction",
    "socialcare.apply_macro",
    # Who is online, away or offline (auto-assignment, issue #20); one's own is set in the header.
    "socialcare.view_agentstatus",
)

SUPERVISOR_PERMISSIONS = (
    *AGENT_PERMISSIONS,
    "socialcare.view_all_cases",
    "socialcare.add_case",
    "socialcare.merge_case",
    "socialcare.approve_reply",
    "socialcare.change_post",  # retry a failed reply
    "socialcare.moderate_post",  # hide, unhide and delete customers' comments on the platform
    "socialcare.view_supportdashboard",
    "socialcare.view_slaalert",
    # Open incidents from cases, contain and resolve them.
    "socialcare.add_incident",
    "socialcare.change_incident",
    # The crisis set-up and the canned replies.
    *(
        f"socialcare.{action}_{model}"
        for model in ("playbook", "playbookstep", "detector", "replytemplate", "tag")
        for action in ("add", "change", "delete")
    ),
    "socialcare.view_detector",
    # Link identities to customers and merge customers.
    "customer.change",
    "socialcare.change_socialidentity",
    "socialcare.view_customermerge",
    # Customers' data rights: export a customer's data, read the privacy audit (erasure is
    # the admin's).
    "socialcare.export_customer_data",
    "socialcare.view_privacyrequest",
)

#: Besides every socialcare permission and the customer model's: managing staff accounts
#: ("user.<action>" means <action> on the user model, which may be swapped too).
ADMIN_EXTRA_PERMISSIONS = (
    *(f"{model}.{action}" for model in ("user", "group") for action in CRUD),
    "auth.view_permission",
)


def _models() -> dict[str, Any]:
    """The models behind the placeholders: customer and user may be swapped."""
    return {CUSTOMER: get_customer_model(), "user": get_user_model(), "group": Group}


def _resolve(perms: tuple[str, ...]) -> set[str]:
    models = _models()
    resolved = set()
    for perm in perms:
        prefix, action = perm.split(".", 1)
        if prefix in models:
            opts = models[prefix]._meta
            perm = f"{opts.app_label}.{action}_{opts.model_name}"
        resolved.add(perm)
    return resolved


def role_permissions() -> dict[str, set[str]]:
    """Each role's permissions as ``"app_label.codename"`` strings (what ``has_perm`` takes)."""
    customer = get_customer_model()._meta
    everything = {
        f"{app_label}.{codename}"
        for app_label, codename in Permission.objects.filter(
            Q(content_type__app_label="socialcare")
            | Q(content_type__app_label=customer.app_label, content_type__model=customer.model_name)
        ).values_list("content_type__app_label", "codename")
    }
    return {
        AGENT: _resolve(AGENT_PERMISSIONS),
        SUPERVISOR: _resolve(SUPERVISOR_PERMISSIONS),
        ADMIN: everything | _resolve(ADMIN_EXTRA_PERMISSIONS),
    }


def _ensure_permissions() -> None:
    """Django creates permissions after ``migrate``; make sure they exist (e.g. right after a
    ``migrate --run-syncdb`` or in a fresh test database) before the groups refer to them."""
    labels = {"auth", "socialcare"} | {model._meta.app_label for model in _models().values()}
    for label in labels:
        create_permissions(apps.get_app_config(label), verbosity=0)


def _permission_objects(names: set[str]) -> dict[str, Permission]:
    query = Q(pk__in=[])
    for name in names:
        app_label, codename = name.split(".", 1)
        query |= Q(content_type__app_label=app_label, codename=codename)
    found = {
        f"{p.content_type.app_label}.{p.codename}": p
        for p in Permission.objects.filter(query).select_related("content_type")
    }
    missing = sorted(names - set(found))
    if missing:
        raise SocialCareError(f"These permissions do not exist: {', '.join(missing)}.")
    return found


@transaction.atomic
def install_roles() -> dict[str, dict[str, Any]]:
    """Create the three groups and give each exactly its permissions.

    Returns, per group name: ``{"created": bool, "added": [...], "removed": [...], "count": n}``
    (permissions as ``"app_label.codename"``, sorted). Running it again returns no changes."""
    _ensure_permissions()
    report: dict[str, dict[str, Any]] = {}
    for name, wanted in role_permissions().items():
        group, created = Group.objects.get_or_create(name=name)
        objects = _permission_objects(wanted)
        current = {
            f"{p.content_type.app_label}.{p.codename}": p
            for p in group.permissions.select_related("content_type")
        }
        added = sorted(wanted - set(current))
        removed = sorted(set(current) - wanted)
        if added:
            group.permissions.add(*(objects[p] for p in added))
        if removed:
            group.permissions.remove(*(current[p] for p in removed))
        report[name] = {
            "created": created,
            "added": added,
            "removed": removed,
            "count": len(wanted),
        }
    return report


def resolve_role(role: str) -> str:
    """The group name of ``role`` (a group name or agent / supervisor / admin, any case)."""
    by_lower = {name.lower(): name for name in ROLES} | ROLE_ALIASES
    name = by_lower.get(role.strip().lower())
    if name is None:
        raise SocialCareError(
            f"Unknown role {role!r}: use agent, supervisor or admin "
            f"({', '.join(repr(r) for r in ROLES)})."
        )
    return name


@transaction.atomic
def assign_role(user: Any, role: str) -> dict[str, Any]:
    """Put ``user`` in ``role`` (and out of the other support roles), as staff so they can log in
    to admin. The groups must exist (``install_roles``).

    Returns ``{"role": name, "added": bool, "removed": [other roles left], "made_staff": bool}``."""
    name = resolve_role(role)
    group = Group.objects.filter(name=name).first()
    if group is None:
        raise SocialCareError(f"The group {name!r} does not exist yet: run socialcare_roles.")
    others = list(user.groups.filter(name__in=[r for r in ROLES if r != name]))
    added = not user.groups.filter(pk=group.pk).exists()
    if others:
        user.groups.remove(*others)
    if added:
        user.groups.add(group)
    made_staff = not user.is_staff
    if made_staff:
        user.is_staff = True
        user.save(update_fields=["is_staff"])
    return {
        "role": name,
        "added": added,
        "removed": sorted(g.name for g in others),
        "made_staff": made_staff,
    }
