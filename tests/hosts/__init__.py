"""Host CRM shapes socialcare must live in, and one integration suite run against each.

Each shape is a small Django app (``splitname``, ``uuidpk``, ``owntools``) with its own settings
module (``tests.hosts.settings_<shape>``); ``profiles.py`` says what each host looks like to the
suite. Under ``tests.settings`` and ``tests.settings_swapped`` the suite runs against those
settings' customer model."""
