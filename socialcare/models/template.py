"""Canned replies agents insert from a case."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import models
from django.template import Template, TemplateSyntaxError
from django.utils.translation import gettext_lazy as _

from socialcare.models.choices import Visibility
from socialcare.models.fields import PlatformField


def validate_template_syntax(value: str) -> None:
    try:
        Template(value)
    except TemplateSyntaxError as exc:
        raise ValidationError(_("Template error: %(err)s"), params={"err": exc}) from exc


class ReplyTemplateQuerySet(models.QuerySet):
    def active(self) -> ReplyTemplateQuerySet:
        return self.filter(is_active=True)

    def usable_for(
        self, *, visibility: str, platform: str, language: str = ""
    ) -> ReplyTemplateQuerySet:
        qs = self.active().filter(
            models.Q(visibility="") | models.Q(visibility=visibility),
            models.Q(platform="") | models.Q(platform=platform),
        )
        if language:
            qs = qs.filter(models.Q(language="") | models.Q(language=language))
        return qs


class ReplyTemplate(models.Model):
    """A reply rendered with Django's template language: {{ customer }}, {{ agent }}, {{ case }}."""

    name = models.CharField(_("name"), max_length=100)
    shortcut = models.SlugField(_("shortcut"), max_length=50, blank=True)
    text = models.TextField(
        _("text"),
        validators=[validate_template_syntax],
        help_text=_(
            "Django template. Available: {{ customer }}, {{ agent }}, {{ case.reference }}, "
            "{{ handle }}, {{ brand }}."
        ),
    )
    visibility = models.CharField(
        _("for"), max_length=10, blank=True, choices=Visibility.choices, help_text=_("Empty: both.")
    )
    platform = PlatformField(_("platform"), blank=True, help_text=_("Empty: any."))
    language = models.CharField(
        _("language"), max_length=10, blank=True, help_text=_("e.g. en, de.")
    )
    is_active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = ReplyTemplateQuerySet.as_manager()

    class Meta:
        ordering = ["name"]
        verbose_name = _("reply template")
        verbose_name_plural = _("reply templates")
        constraints = [
            models.UniqueConstraint(
                fields=["shortcut"],
                condition=~models.Q(shortcut=""),
                name="socialcare_template_unique_shortcut",
            ),
        ]

    def __str__(self) -> str:
        return self.name
