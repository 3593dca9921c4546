"""A billing CRM with its own duplicate-merge and delete tools, which never lets socialcare create
clients: social identities are only linked to clients whose e-mail address they match."""
