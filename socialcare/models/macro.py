"""Macros: a named, ordered set of case actions an agent applies in one step (issue #20).

What running one does is ``services.macros``; this module only says what a macro is and who may
use it. Every action is a plain row (no JSON), edited in admin as an inline.
"""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from socialcare.models.case import Case
from socialcare.models.choices import Priority, Visibility


class MacroQuerySet(models.QuerySet):
    def active(self) -> MacroQuerySet:
        return self.filter(is_active=True)

    def with_actions(self) -> MacroQuerySet:
        return self.prefetch_related("actions__template", "actions__team", "actions__assignee")


class Macro(models.Model):
    """A named set of actions. ``teams`` and ``groups`` limit who is offered it (empty: no limit);
    ``services.macros.usable_macros`` is the one place that applies the limits."""

    name = models.CharField(_("name"), max_length=100, unique=True)
    description = models.TextField(
        _("description"), blank=True, help_text=_("What it is for, shown to agents.")
    )
    is_active = models.BooleanField(
        _("active"), default=True, help_text=_("Inactive macros are not offered anywhere.")
    )
    teams = models.ManyToManyField(
        "socialcare.Team",
        verbose_name=_("teams"),
        blank=True,
        related_name="macros",
        help_text=_(
            "Offered only to members of these teams (and to those who see every case). "
            "Empty: every team."
        ),
    )
    groups = models.ManyToManyField(
        "auth.Group",
        verbose_name=_("roles"),
        blank=True,
        related_name="socialcare_macros",
        help_text=_(
            "Offered only to users in one of these groups (e.g. Support agent). Empty: everyone "
            "who may work cases."
        ),
    )
    created_at = models.DateTimeField(_("created"), default=timezone.now, editable=False)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    objects = MacroQuerySet.as_manager()

    class Meta:
        ordering = ["name"]
        verbose_name = _("macro")
        verbose_name_plural = _("macros")
        permissions = [("apply_macro", "Can apply macros to cases")]

    def __str__(self) -> str:
        return self.name


class MacroAction(models.Model):
    """One step of a macro. Which fields matter depends on ``kind`` (``clean`` checks them)."""

    class Kind(models.TextChoices):
        REPLY = "reply", _("Reply from a template")
        STATUS = "status", _("Set status")
        PRIORITY = "priority", _("Set priority")
        ADD_TAGS = "add_tags", _("Add tags")
        REMOVE_TAGS = "remove_tags", _("Remove tags")
        TEAM = "team", _("Move to team")
        ASSIGN = "assign", _("Assign to")
        ASSIGN_TO_ME = "assign_to_me", _("Assign to whoever runs it")
        UNASSIGN = "unassign", _("Unassign")
        NOTE = "note", _("Add an internal note")

    macro = models.ForeignKey(
        Macro, on_delete=models.CASCADE, related_name="actions", verbose_name=_("macro")
    )
    position = models.PositiveSmallIntegerField(
        _("order"), default=0, help_text=_("Actions run in this order, lowest first.")
    )
    kind = models.CharField(_("action"), max_length=20, choices=Kind.choices)
    template = models.ForeignKey(
        "socialcare.ReplyTemplate",
        verbose_name=_("reply template"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="macro_actions",
    )
    visibility = models.CharField(
        _("reply as"),
        max_length=10,
        blank=True,
        choices=Visibility.choices,
        help_text=_(
            "For a reply: public or private message. Empty: as the case is (a case "
            "taken private is answered privately)."
        ),
    )
    status = models.CharField(_("status"), max_length=24, blank=True, choices=Case.Status.choices)
    priority = models.CharField(_("priority"), max_length=10, blank=True, choices=Priority.choices)
    tags = models.CharField(
        _("tags"), max_length=300, blank=True, help_text=_("Comma-separated, e.g. refund, billing.")
    )
    team = models.ForeignKey(
        "socialcare.Team",
        verbose_name=_("team"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("assignee"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    text = models.TextField(_("note"), blank=True, help_text=_("For a note: its text."))

    class Meta:
        ordering = ["macro", "position", "pk"]
        verbose_name = _("macro action")
        verbose_name_plural = _("macro actions")

    def __str__(self) -> str:
        return self.describe()

    def tag_names(self) -> list[str]:
        return [n for n in (" ".join(t.split()) for t in self.tags.split(",")) if n]

    def describe(self) -> str:
        """One line an agent reads: what this step does."""
        k = self.Kind
        match self.kind:
            case k.REPLY:
                how = (
                    Visibility(self.visibility).label.lower() if self.visibility else "as the case"
                )
                return f"Reply ({how}) with “{self.template or 'a deleted template'}”"
            case k.STATUS:
                return f"Status → {Case.Status(self.status).label if self.status else '?'}"
            case k.PRIORITY:
                return f"Priority → {Priority(self.priority).label if self.priority else '?'}"
            case k.ADD_TAGS:
                return f"Add tags: {', '.join(self.tag_names())}"
            case k.REMOVE_TAGS:
                return f"Remove tags: {', '.join(self.tag_names())}"
            case k.TEAM:
                return f"Move to team {self.team or '(deleted team)'}"
            case k.ASSIGN:
                return f"Assign to {self.assignee or '(deleted user)'}"
            case k.NOTE:
                return f"Note: {self.text[:80]}"
            case _:
                return str(self.get_kind_display())

    def clean(self) -> None:
        k = self.Kind
        needs = {
            k.REPLY: ("template", _("Pick the reply template to send.")),
            k.STATUS: ("status", _("Pick the status to set.")),
            k.PRIORITY: ("priority", _("Pick the priority to set.")),
            k.TEAM: ("team", _("Pick the team to move the case to.")),
            k.ASSIGN: ("assignee", _("Pick whom to assign the case to.")),
            k.NOTE: ("text", _("Write the note.")),
        }
        errors: dict[str, str] = {}
        if self.kind in needs:
            field, message = needs[self.kind]
            if not getattr(
                self, field if field in ("status", "priority", "text") else field + "_id"
            ):
                errors[field] = message
        if self.kind in (k.ADD_TAGS, k.REMOVE_TAGS) and not self.tag_names():
            errors["tags"] = _("Name at least one tag.")
        if errors:
            raise ValidationError(errors)
