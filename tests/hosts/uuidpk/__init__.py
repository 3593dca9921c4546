"""A CRM whose people have UUID primary keys, a required display name, and their X handle."""
