"""socialcare's own (non-admin, non-API) pages: OAuth sign-in flows and customer verification."""
