"""The split-name CRM (tests/hosts/splitname): contacts with first/middle/last names and a
required company; its staff work on its own admin site, where socialcare lives too."""

from tests.settings import *  # noqa: F403
from tests.settings import INSTALLED_APPS, MIDDLEWARE, SOCIALCARE

SOCIALCARE_TEST_HOST = "splitname"
INSTALLED_APPS = [*INSTALLED_APPS, "tests.hosts.splitname"]
# Case events name who deleted a customer in the admin (docs/customers.md, "Who deleted").
MIDDLEWARE = [*MIDDLEWARE, "socialcare.middleware.CurrentUserMiddleware"]
ROOT_URLCONF = "tests.hosts.splitname.urls"
SOCIALCARE_CUSTOMER_MODEL = "hosts_splitname.Contact"
SOCIALCARE = {
    **SOCIALCARE,
    "CUSTOMER_ADAPTER": "tests.hosts.splitname.adapters.ContactAdapter",
    "CUSTOMERS_FOR_CASES": "create",
    "ADMIN_SITE": "tests.hosts.splitname.sites.crm_site",
}
