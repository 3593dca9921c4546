"""The CRM's person. Swappable: ``SOCIALCARE_CUSTOMER_MODEL`` (default ``socialcare.Customer``)."""

from __future__ import annotations

import swapper
from django.core.exceptions import ImproperlyConfigured
from django.db import models
from django.utils.translation import gettext_lazy as _


class AbstractCustomer(models.Model):
    name = models.CharField(_("name"), max_length=200, blank=True)
    email = models.EmailField(_("email"), blank=True, db_index=True)
    phone = models.CharField(_("phone"), max_length=50, blank=True)
    notes = models.TextField(_("notes"), blank=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)
    merged_into = models.ForeignKey(
        "self",
        verbose_name=_("merged into"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="merged_from",
        help_text=_(
            "Set when this record was merged into another; it is kept for the audit trail."
        ),
    )

    class Meta:
        abstract = True
        ordering = ["name", "pk"]
        verbose_name = _("customer")
        verbose_name_plural = _("customers")

    def __str__(self) -> str:
        return self.name or self.email or f"Customer #{self.pk}"


class Customer(AbstractCustomer):
    class Meta(AbstractCustomer.Meta):
        swappable = swapper.swappable_setting("socialcare", "Customer")


def get_customer_model() -> type[models.Model]:
    """The active customer model (``SOCIALCARE_CUSTOMER_MODEL``)."""
    # required=False: swapper's own error ("Could not find x!") does not say what to set.
    model = swapper.load_model("socialcare", "Customer", required=False)
    if model is None:
        raise ImproperlyConfigured(
            "SOCIALCARE_CUSTOMER_MODEL must be 'app_label.ModelName' of an installed model, "
            f"got {swapper.get_model_name('socialcare', 'Customer')!r}."
        )
    return model


def customer_model_name() -> str:
    """'app_label.ModelName' of the active customer model, for foreign keys."""
    return swapper.get_model_name("socialcare", "Customer")


def customer_display_name(customer: models.Model | None) -> str:
    """The customer's name as the customer adapter gives it ("" for no customer)."""
    from socialcare.adapter import get_customer_adapter

    if customer is None:
        return ""
    return get_customer_adapter().display_name(customer)


def customer_email(customer: models.Model | None) -> str:
    """The customer's e-mail address as the customer adapter gives it ("" when none)."""
    from socialcare.adapter import get_customer_adapter

    if customer is None:
        return ""
    return get_customer_adapter().get_email(customer)
