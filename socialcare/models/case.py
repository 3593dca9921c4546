"""The unit of work: one customer's issue, its posts and its timeline."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import swapper
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import connections, models, router, transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from socialcare.exceptions import CustomerDeleteRefused
from socialcare.models.change import allocate, deferred_bumps
from socialcare.models.choices import Priority, Visibility
from socialcare.models.customer import customer_display_name

#: The customers not merged into another (with no ``CustomerMerge`` row as the merged customer):
#: the choices socialcare's forms and API offer. Not ``limit_choices_to`` of ``Case.customer``:
#: DRF would turn it into a queryset that drf-spectacular evaluates while writing the schema.
UNMERGED_CUSTOMERS = {"socialcare_merged__isnull": True}

#: Case references a refused customer delete names before "and N more".
REFUSAL_NAMES = 10


def customer_on_delete(collector: Any, field: Any, sub_objs: Any, using: str) -> None:
    """``on_delete`` of ``Case.customer``: ``SOCIALCARE["CUSTOMER_DELETE"]``, read at delete time.

    "keep_cases" (the default): the cases stay, their customer set to NULL (the "customer
    deleted" event is written by ``services.customer_delete`` when the delete runs, not here: the
    admin's confirmation page collects too). "refuse": ``CustomerDeleteRefused`` naming the cases,
    before anything is written.
    """
    from socialcare.conf import app_settings

    policy = app_settings.CUSTOMER_DELETE
    if policy == "keep_cases":
        collector.add_field_update(field, None, sub_objs)
        return
    if policy != "refuse":
        raise ImproperlyConfigured(
            f'SOCIALCARE["CUSTOMER_DELETE"] must be "keep_cases" or "refuse", got {policy!r}.'
        )
    cases = field.model._base_manager.using(using).filter(pk__in=[c.pk for c in sub_objs])
    raise customer_delete_refused(list(cases), collector.data.get(field.related_model, ()))


def customer_delete_refused(cases: list[Any], customers: Iterable[Any]) -> CustomerDeleteRefused:
    """The refusal of deleting ``customers``, naming their ``cases``."""
    by_pk = {c.pk: c for c in customers}
    # Named as everywhere in socialcare (the customer adapter), not by the host's __str__.
    names = sorted(
        {
            customer_display_name(by_pk[c.customer_id])
            if c.customer_id in by_pk
            else str(c.customer_id)
            for c in cases
        }
    )
    refs = sorted(c.reference or f"#{c.pk}" for c in cases)
    more = f" and {len(refs) - REFUSAL_NAMES} more" if len(refs) > REFUSAL_NAMES else ""
    return CustomerDeleteRefused(
        f"Cannot delete customer {', '.join(names)}: socialcare cases "
        f"{', '.join(refs[:REFUSAL_NAMES])}{more} belong to them. Move the cases to another "
        "customer (or merge the customers) first; or set "
        'SOCIALCARE["CUSTOMER_DELETE"] = "keep_cases" to keep cases of deleted customers.',
        cases,
    )


class Tag(models.Model):
    name = models.CharField(_("name"), max_length=50, unique=True)

    class Meta:
        ordering = ["name"]
        verbose_name = _("tag")
        verbose_name_plural = _("tags")

    def __str__(self) -> str:
        return self.name


#: ``Case.OPEN_STATUSES`` for the triage index below (its Meta cannot see the class body).
TRIAGE_OPEN = ["new", "open", "waiting_on_customer"]


class CaseQuerySet(models.QuerySet):
    def open(self) -> CaseQuerySet:
        """Cases that still need work (not resolved, not closed)."""
        return self.filter(status__in=Case.OPEN_STATUSES)

    def for_team(self, team: models.Model) -> CaseQuerySet:
        return self.filter(team=team)

    def assigned_to(self, user: models.Model) -> CaseQuerySet:
        return self.filter(assignee=user)

    def unassigned(self) -> CaseQuerySet:
        return self.filter(assignee__isnull=True)

    def awaiting_first_response(self) -> CaseQuerySet:
        return self.open().filter(first_responded_at__isnull=True)

    def overdue(self, now: timezone.datetime | None = None) -> CaseQuerySet:
        """Open cases past their first-response due time."""
        now = now or timezone.now()
        return self.awaiting_first_response().filter(first_response_due_at__lt=now)

    def with_people(self) -> CaseQuerySet:
        return self.select_related("customer", "identity", "channel", "team", "assignee")

    # Every write takes new change numbers (docs/api.md, "Sync"), so no path can change a case
    # without a syncing client seeing it again.

    def update(self, **kwargs: Any) -> int:
        """``QuerySet.update``, giving each updated case a new ``change_seq`` of its own (inside
        ``change_seq.bumped_together``: when that block ends, in the same transaction)."""
        if "change_seq" in kwargs:
            return super().update(**kwargs)
        deferred = _deferring(self.db)
        if deferred is not None:
            pks = list(self.values_list("pk", flat=True))
            deferred.update(pks)
            return super(CaseQuerySet, self.filter(pk__in=pks)).update(**kwargs) if pks else 0
        with transaction.atomic(using=self.db, savepoint=False):
            pks = list(self.order_by("pk").values_list("pk", flat=True).distinct())
            updated = 0
            for start in range(0, len(pks), 500):
                chunk = pks[start : start + 500]
                _lock_rows(self.db, chunk)
                first = allocate(len(chunk), using=self.db, floor=_largest_seq(self.db))
                if len(chunk) == 1:  # the common case: one number, no CASE to build
                    seq: Any = first
                else:
                    seq = models.Case(
                        *(models.When(pk=pk, then=first + i) for i, pk in enumerate(chunk)),
                        output_field=models.BigIntegerField(),
                    )
                updated += super(CaseQuerySet, self.filter(pk__in=chunk)).update(
                    change_seq=seq, **kwargs
                )
        return updated

    def update_by_pk(self, pk: Any, **kwargs: Any) -> int:
        """``filter(pk=pk).update(**kwargs)`` for a case whose key the caller knows: inside
        ``change_seq.bumped_together`` one UPDATE, without reading the keys it updates first."""
        deferred = _deferring(self.db)
        if deferred is None or "change_seq" in kwargs:
            return self.filter(pk=pk).update(**kwargs)
        deferred.add(pk)
        return super(CaseQuerySet, self.filter(pk=pk)).update(**kwargs)

    def bulk_create(self, objs: Iterable[Any], *args: Any, **kwargs: Any) -> list[Any]:
        objs = list(objs)
        if not objs:
            return objs
        with transaction.atomic(using=self.db, savepoint=False):
            first = allocate(len(objs), using=self.db, floor=_largest_seq(self.db))
            for i, obj in enumerate(objs):
                obj.change_seq = first + i
            return super().bulk_create(objs, *args, **kwargs)


def _deferring(using: str) -> set[Any] | None:
    """The cases waiting for their change numbers, when a write of cases on ``using`` runs
    inside ``change_seq.bumped_together`` (which bumps the write database's cases only)."""
    deferred = deferred_bumps.get()
    return deferred if deferred is not None and using == router.db_for_write(Case) else None


def _lock_rows(using: str, pks: list[Any]) -> None:
    """Lock the cases before the change counter (PostgreSQL): a writer that waits for the
    counter then holds no lock another writer of the counter waits for, so the two cannot
    deadlock on these rows."""
    if pks and connections[using].features.has_select_for_update:
        rows = Case._base_manager.using(using).filter(pk__in=pks).order_by("pk")
        # FOR NO KEY UPDATE, what the UPDATE itself takes: it does not wait for the key-share
        # locks that inserting a post or an event of the case holds, so two writers that each
        # inserted a child row and then update the case do not deadlock (PostgreSQL).
        no_key = connections[using].features.has_select_for_no_key_update
        list(rows.select_for_update(no_key=no_key).values_list("pk", flat=True))


def _largest_seq(using: str) -> Any:
    def largest() -> int:
        found = Case._base_manager.using(using).aggregate(m=models.Max("change_seq"))["m"]
        return found or 0

    return largest


class Case(models.Model):
    class Status(models.TextChoices):
        NEW = "new", _("New")
        OPEN = "open", _("Open")
        WAITING_ON_CUSTOMER = "waiting_on_customer", _("Waiting on customer")
        RESOLVED = "resolved", _("Resolved")
        CLOSED = "closed", _("Closed")

    class HandOff(models.TextChoices):
        DIRECT_MESSAGE = "direct_message", _("Direct message")
        EMAIL = "email", _("Email")

    OPEN_STATUSES = (Status.NEW, Status.OPEN, Status.WAITING_ON_CUSTOMER)

    # NULL only for the instant between insert and numbering (unique NULLs never collide).
    reference = models.CharField(  # noqa: DJ001
        _("reference"), max_length=32, unique=True, null=True, editable=False
    )
    customer = models.ForeignKey(
        swapper.get_model_name("socialcare", "Customer"),
        verbose_name=_("customer"),
        null=True,
        blank=True,
        on_delete=customer_on_delete,
        related_name="socialcare_cases",
    )
    identity = models.ForeignKey(
        "socialcare.SocialIdentity",
        verbose_name=_("social identity"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="cases",
    )
    channel = models.ForeignKey(
        "socialcare.Channel",
        verbose_name=_("channel"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="cases",
    )
    subject = models.CharField(_("subject"), max_length=200, blank=True)
    status = models.CharField(
        _("status"), max_length=24, choices=Status.choices, default=Status.NEW
    )
    priority = models.CharField(
        _("priority"), max_length=10, choices=Priority.choices, default=Priority.NORMAL
    )
    visibility = models.CharField(
        _("visibility"),
        max_length=10,
        choices=Visibility.choices,
        default=Visibility.PUBLIC,
        help_text=_(
            "Public when it began in public; private for DMs, email or once taken private."
        ),
    )
    team = models.ForeignKey(
        "socialcare.Team",
        verbose_name=_("team"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="cases",
    )
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("assignee"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="socialcare_cases",
    )
    tags = models.ManyToManyField(Tag, verbose_name=_("tags"), blank=True, related_name="cases")
    sla_policy = models.ForeignKey(
        "socialcare.SLAPolicy",
        verbose_name=_("SLA policy"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="cases",
    )
    first_response_due_at = models.DateTimeField(_("first response due"), null=True, blank=True)
    next_response_due_at = models.DateTimeField(_("next response due"), null=True, blank=True)
    resolution_due_at = models.DateTimeField(_("resolution due"), null=True, blank=True)
    first_responded_at = models.DateTimeField(_("first responded"), null=True, blank=True)
    last_inbound_at = models.DateTimeField(_("last customer post"), null=True, blank=True)
    last_outbound_at = models.DateTimeField(_("last reply"), null=True, blank=True)
    resolved_at = models.DateTimeField(_("resolved"), null=True, blank=True)
    closed_at = models.DateTimeField(_("closed"), null=True, blank=True)
    sla_started_at = models.DateTimeField(
        _("SLA clock started"),
        null=True,
        blank=True,
        help_text=_(
            "When the first live customer post came: due times count from here. Empty while "
            "every post of the case is from history (older than the backfill horizon)."
        ),
    )
    from_history = models.BooleanField(
        _("from history"),
        default=False,
        help_text=_(
            "Opened by posts older than the backfill horizon (a channel's history, a poll after "
            "downtime) and no live post since: no SLA clock, alerts or detectors."
        ),
    )
    sla_paused_at = models.DateTimeField(
        _("SLA clock paused since"),
        null=True,
        blank=True,
        help_text=_("Set while waiting on the customer; due times move on when the case reopens."),
    )
    incident = models.ForeignKey(
        "socialcare.Incident",
        verbose_name=_("incident"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="cases",
    )
    handed_off_to = models.CharField(
        _("taken private via"), max_length=20, choices=HandOff.choices, blank=True
    )
    merged_into = models.ForeignKey(
        "self",
        verbose_name=_("merged into"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="merged_cases",
    )
    created_at = models.DateTimeField(_("created"), default=timezone.now)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)
    #: Strictly increasing over every change of every case, in commit order: the sync cursor.
    change_seq = models.BigIntegerField(_("change number"), default=0, editable=False)

    objects = CaseQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-pk"]
        verbose_name = _("case")
        verbose_name_plural = _("cases")
        indexes = [
            models.Index(fields=["status", "first_response_due_at"], name="socialcare_case_sla"),
            models.Index(fields=["assignee", "status"], name="socialcare_case_assignee"),
            models.Index(fields=["team", "status"], name="socialcare_case_team"),
            models.Index(fields=["updated_at", "id"], name="socialcare_case_updated"),
            models.Index(fields=["change_seq", "id"], name="socialcare_case_change_seq"),
            models.Index(fields=["identity", "status"], name="socialcare_case_identity"),
            models.Index(
                fields=["status", "next_response_due_at"], name="socialcare_case_next_sla"
            ),
            models.Index(
                fields=["status", "resolution_due_at"], name="socialcare_case_resolve_sla"
            ),
            # The inbox's triage order (socialcare/admin/cases.py), the very expressions it sorts
            # by, so a page (or a search) walks the index and stops after 50 rows.
            models.Index(
                models.Case(
                    models.When(status__in=TRIAGE_OPEN, then=models.Value(0)),
                    default=models.Value(1),
                    output_field=models.IntegerField(),
                ),
                models.Case(
                    models.When(
                        status__in=TRIAGE_OPEN,
                        first_responded_at__isnull=True,
                        then=models.F("first_response_due_at"),
                    ),
                    models.When(status__in=TRIAGE_OPEN, then=models.F("next_response_due_at")),
                    default=None,
                    output_field=models.DateTimeField(),
                ),
                models.F("created_at").desc(),
                models.F("id").desc(),
                name="socialcare_case_triage",
            ),
        ]
        permissions = [
            ("merge_case", "Can merge cases"),
            ("view_all_cases", "Can see cases of every team"),
        ]

    def __str__(self) -> str:
        label = self.reference or f"Case #{self.pk}"
        return f"{label}: {self.subject}" if self.subject else label

    def save(self, *args: Any, **kwargs: Any) -> None:
        if kwargs.get("update_fields") is not None and not kwargs["update_fields"]:
            return super().save(*args, **kwargs)  # saves nothing
        using = kwargs.get("using") or router.db_for_write(type(self), instance=self)
        deferred = _deferring(using)
        if deferred is not None:
            # Inside ``change_seq.bumped_together``: the block gives it its number when it ends.
            super().save(*args, **kwargs)
            deferred.add(self.pk)
            return None
        with transaction.atomic(using=using, savepoint=False):
            if self.pk is not None and not self._state.adding:
                _lock_rows(using, [self.pk])
            self.change_seq = allocate(1, using=using, floor=_largest_seq(using))
            if kwargs.get("update_fields") is not None:
                kwargs["update_fields"] = {*kwargs["update_fields"], "change_seq"}
            super().save(*args, **kwargs)

    @property
    def is_open(self) -> bool:
        return self.status in self.OPEN_STATUSES


class CustomerMerge(models.Model):
    """Audit record of one customer merged into another (the source record is kept, not deleted).

    It is also the mark of the merged record (``merged_customer``, one merge per record): such a
    record cannot be merged again nor be merged into, and is offered in no customer choice. Audit
    rows never block a delete: both customers are ``SET_NULL``; ``source_id`` and ``target_ref``
    keep who they were.
    """

    source_id = models.CharField(_("merged customer id"), max_length=64)
    merged_customer = models.OneToOneField(
        swapper.get_model_name("socialcare", "Customer"),
        verbose_name=_("merged customer"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="socialcare_merged",
        help_text=_("The merged record, while it exists."),
    )
    source_snapshot = models.JSONField(
        _("merged customer"), default=dict, help_text=_("The source record's fields at merge time.")
    )
    target = models.ForeignKey(
        swapper.get_model_name("socialcare", "Customer"),
        verbose_name=_("kept customer"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="socialcare_merges",
    )
    target_ref = models.CharField(
        _("kept customer id"),
        max_length=64,
        blank=True,
        help_text=_("Kept when the kept customer is deleted."),
    )
    merged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    merged_at = models.DateTimeField(_("merged at"), default=timezone.now)
    identities_moved = models.PositiveIntegerField(default=0)
    cases_moved = models.PositiveIntegerField(default=0)
    relations = models.JSONField(
        _("host data"),
        default=dict,
        blank=True,
        help_text=_(
            "What the merge did with the host's own data: relations moved, relations left on "
            "the merged record and why, blank fields filled."
        ),
    )

    class Meta:
        ordering = ["-merged_at"]
        verbose_name = _("customer merge")
        verbose_name_plural = _("customer merges")

    def __str__(self) -> str:
        return f"Customer {self.source_id} merged into {self.target_label}"

    @property
    def target_label(self) -> str:
        if self.target_id is not None:
            return customer_display_name(self.target)
        return f"customer {self.target_ref} (deleted)"


class SupportDashboard(Case):
    """The support dashboard in admin (charts over cases and posts). A proxy of Case so the
    dashboard has its own entry in the admin sidebar and its own view permission."""

    class Meta:
        proxy = True
        verbose_name = "dashboard"
        verbose_name_plural = "dashboard"


class SLAScanMark(models.Model):
    """How far the last SLA scan got (one row, ``name="sla"``), so the next scan reads only the
    cases that changed or fell due since, not the whole backlog of breached cases. Bookkeeping of
    ``services.sla_scan``: no admin, no API; deleting the row costs one full scan."""

    name = models.CharField(max_length=20, primary_key=True)
    scanned_until = models.DateTimeField(
        help_text="The scan's `now`: due times up to it were seen."
    )
    started_at = models.DateTimeField(help_text="Wall clock when that scan started.")
    full_scan_at = models.DateTimeField(help_text="Wall clock of the last scan of every case.")

    class Meta:
        verbose_name = "SLA scan mark"

    def __str__(self) -> str:
        return f"{self.name}: scanned until {self.scanned_until:%Y-%m-%d %H:%M:%S}"
