"""The demo CRM's own data: companies and a profile beside socialcare's default Customer."""

from django.db import models

from socialcare.models import customer_model_name


class Company(models.Model):
    name = models.CharField(max_length=200, unique=True)
    industry = models.CharField(max_length=100, blank=True)
    plan = models.CharField(
        max_length=20,
        choices=[("free", "Free"), ("pro", "Pro"), ("enterprise", "Enterprise")],
        default="free",
    )

    class Meta:
        ordering = ["name"]
        verbose_name_plural = "companies"

    def __str__(self) -> str:
        return self.name


class CustomerProfile(models.Model):
    customer = models.OneToOneField(
        customer_model_name(), on_delete=models.CASCADE, related_name="crm_profile"
    )
    company = models.ForeignKey(Company, null=True, blank=True, on_delete=models.SET_NULL)
    lifetime_value = models.DecimalField(max_digits=12, decimal_places=2, default=0)
    tier = models.CharField(
        max_length=20,
        choices=[("standard", "Standard"), ("vip", "VIP")],
        default="standard",
    )

    def __str__(self) -> str:
        return f"CRM profile of {self.customer}"
