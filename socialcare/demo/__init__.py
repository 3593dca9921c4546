"""Demo data: the social customer care of "Acme", a smart-home brand, built through the services.

``load_demo_data()`` fills a database with channels on every built-in platform, three teams of
agents, SLA policies on a Berlin business-hours calendar, reply templates, ~25 customers with their
social identities, and 47 cases in every status, a few of them past or near their first-response
SLA. Each case's timeline is written by the services agents use, replayed at past moments so the
history reads like real work.

It is deterministic (seeded) and idempotent: when the brand's channel "Acme on X" exists, it does
nothing. It knows nothing of a host CRM: customers go through ``get_customer_model()`` and the
customer adapter (``SOCIALCARE["CUSTOMER_ADAPTER"]``), so a swapped customer model works too.
``set_up_demo_staff(password)`` then puts the demo's agents in their support roles.

Modules: ``data`` (brand accounts, teams, SLA policies, reply templates, customers), ``stories``
(the cases as they happened), ``ids`` (platform-shaped ids and URLs), ``loader``
(``load_demo_data``) and ``staff`` (roles and the demo logins).
"""

from socialcare.demo.data import CHANNELS, CUSTOMERS, MARKER_CHANNEL, TEAMS, TEMPLATES
from socialcare.demo.loader import load_demo_data
from socialcare.demo.staff import DEMO_LOGINS, DemoLogin, set_up_demo_staff
from socialcare.demo.stories import STORIES, Story

__all__ = [
    "CHANNELS",
    "CUSTOMERS",
    "DEMO_LOGINS",
    "MARKER_CHANNEL",
    "STORIES",
    "TEAMS",
    "TEMPLATES",
    "DemoLogin",
    "Story",
    "load_demo_data",
    "set_up_demo_staff",
]
