"""A CRM whose contacts have split names, a required company, tags and deals, served to its staff
on its own admin site (``crm``)."""
