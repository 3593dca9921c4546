"""Signals socialcare sends after a change is committed to the database's transaction.

They are outputs for a host project (notifications, CRM sync); socialcare's own flow never depends
on a receiver. Every signal is sent by a service, with ``actor`` (a user, or None for the system).
"""

from django.dispatch import Signal

#: A case was opened. Arguments: case, actor.
case_opened = Signal()

#: A case changed status. Arguments: case, actor, from_status, to_status.
case_status_changed = Signal()

#: A case was assigned or unassigned. Arguments: case, actor, previous (user or None).
case_assigned = Signal()

#: One case was merged into another. Arguments: source, target, actor.
cases_merged = Signal()

#: One customer was merged into another. Arguments: source, target, merge (CustomerMerge), actor.
customers_merged = Signal()

#: A social identity was linked to (or moved between) customers. Arguments: identity, customer,
#: previous (customer or None), actor.
identity_linked = Signal()

#: An inbound post was stored and linked to its case. Arguments: post, case, case_created.
post_received = Signal()

#: A delivery was processed (or failed). Arguments: delivery.
delivery_processed = Signal()

#: A case's priority, team, assignee, tags or customer changed. Arguments: case, actor,
#: field (name of what changed), old, new (JSON-safe values).
case_updated = Signal()

#: A reply reached the customer (the platform accepted it). Arguments: post, case.
reply_sent = Signal()

#: The platform hid, showed again or deleted a customer's comment at the brand's request (a
#: refused or failed attempt sends nothing). Arguments: post, case, action ("hide", "unhide",
#: "delete"), actor (None: the system), reason, source (a playbook step, or "").
post_moderated = Signal()

#: An SLA target of a case is due soon or was breached (sent once per due time).
#: Arguments: alert (SLAAlert), case.
sla_alert = Signal()

#: A crisis incident was opened. Arguments: incident, actor.
incident_opened = Signal()

#: An incident changed (status, steps, linked cases). Arguments: incident, actor, change (str).
incident_updated = Signal()

#: A customer proved they own a social identity by signing in with the platform.
#: Arguments: identity, case, verification (IdentityVerification).
identity_verified = Signal()

#: A customer answered a case's CSAT survey (sent once the answer is committed).
#: Arguments: survey (Survey), case.
csat_received = Signal()
