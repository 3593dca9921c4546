"""The billing CRM with its own tools (tests/hosts/owntools): clients are never created by
socialcare, only matched by e-mail; invoices protect clients from deletion."""

from tests.settings import *  # noqa: F403
from tests.settings import INSTALLED_APPS, MIDDLEWARE, SOCIALCARE

SOCIALCARE_TEST_HOST = "owntools"
INSTALLED_APPS = [*INSTALLED_APPS, "tests.hosts.owntools"]
# Case events name who deleted a customer in the admin (docs/customers.md, "Who deleted").
MIDDLEWARE = [*MIDDLEWARE, "socialcare.middleware.CurrentUserMiddleware"]
SOCIALCARE_CUSTOMER_MODEL = "hosts_owntools.Client"
SOCIALCARE = {
    **SOCIALCARE,
    "CUSTOMER_ADAPTER": "tests.hosts.owntools.adapters.ClientAdapter",
    "CUSTOMERS_FOR_CASES": "create",
}
