"""social-auth backends socialcare adds to those social-core ships.

``MastodonOAuth2``: sign in with a Mastodon account. Mastodon apps are registered per server, so
the backend serves one server: ``SOCIAL_AUTH_MASTODON_INSTANCE_URL`` (e.g.
``https://mastodon.social``) with the app's ``SOCIAL_AUTH_MASTODON_KEY`` / ``_SECRET``. Its uid is
the account's profile URL, which is how socialcare identifies Mastodon accounts (see
``socialcare.platforms.mastodon``).
"""

from __future__ import annotations

from typing import Any

from social_core.backends.oauth import BaseOAuth2


class MastodonOAuth2(BaseOAuth2):
    name = "mastodon"
    title = "Mastodon"
    ID_KEY = "url"
    REQUIRES_USER_ID = True
    DEFAULT_SCOPE = ["read:accounts"]
    REDIRECT_STATE = False
    STATE_PARAMETER = True
    EXTRA_DATA = [("id", "id"), ("acct", "acct")]

    def instance_url(self) -> str:
        return str(self.setting("INSTANCE_URL", "https://mastodon.social")).rstrip("/")

    def authorization_url(self) -> str:
        return f"{self.instance_url()}/oauth/authorize"

    def access_token_url(self) -> str:
        return f"{self.instance_url()}/oauth/token"

    def revoke_token_url(self, token: str, uid: str) -> str:
        return f"{self.instance_url()}/oauth/revoke"

    def get_user_details(self, response: dict[str, Any]) -> dict[str, Any]:
        acct = str(response.get("acct") or response.get("username") or "")
        return {
            "username": acct,
            "fullname": response.get("display_name") or None,
            "first_name": None,
            "last_name": None,
        }

    def user_data(self, access_token: str, *args: Any, **kwargs: Any) -> dict[str, Any] | None:
        return self.get_json(
            f"{self.instance_url()}/api/v1/accounts/verify_credentials",
            headers={"Authorization": f"Bearer {access_token}"},
        )
