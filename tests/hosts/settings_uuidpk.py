"""The UUID-keyed CRM (tests/hosts/uuidpk): people with a UUID primary key, a required display
name and a stored X handle; socialcare on Django's default admin site."""

from tests.settings import *  # noqa: F403
from tests.settings import INSTALLED_APPS, MIDDLEWARE, SOCIALCARE

SOCIALCARE_TEST_HOST = "uuidpk"
INSTALLED_APPS = [*INSTALLED_APPS, "tests.hosts.uuidpk"]
# Case events name who deleted a customer in the admin (docs/customers.md, "Who deleted").
MIDDLEWARE = [*MIDDLEWARE, "socialcare.middleware.CurrentUserMiddleware"]
SOCIALCARE_CUSTOMER_MODEL = "hosts_uuidpk.Person"
SOCIALCARE = {
    **SOCIALCARE,
    "CUSTOMER_ADAPTER": "tests.hosts.uuidpk.adapters.PersonAdapter",
    "CUSTOMERS_FOR_CASES": "create",
}
