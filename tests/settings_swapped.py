"""Test settings with the customer model swapped for tests.testapp.Contact."""

from tests.settings import *  # noqa: F403
from tests.settings import SOCIALCARE

SOCIALCARE_CUSTOMER_MODEL = "testapp.Contact"
SOCIALCARE = {
    **SOCIALCARE,
    "CUSTOMER_NAME_FIELD": "full_name",
    "CUSTOMER_EMAIL_FIELD": "email_address",
}
