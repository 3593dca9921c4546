"""Meta's user id spaces, and how socialcare keys an identity in them (docs/ingestion.md,
"Identity spaces on Meta").

Meta never shows an app a person's global user id. What a webhook names is scoped:

* **PSID** (page-scoped id): one per person *and Facebook Page*. The Messenger ``sender.id`` is a
  PSID, and so is the ``from.id`` of a person's post or comment in the Page's ``feed`` (the Pages
  API returns only PSIDs since v7.0, for every version since 5 May 2021). The same person has
  another PSID on another Page.
* **IGSID** (Instagram-scoped id): one per person *and Instagram professional account*. The
  ``from.id`` of an Instagram comment and the ``sender.id`` of an Instagram Direct message are
  both IGSIDs: the same space.
* Page ids and Instagram account ids are global: the brand's own account is named by them.

So an identity's ``external_id`` is the scoped id prefixed with its space and the account it is
scoped to, e.g. ``psid:<page id>:<psid>`` or ``igsid:<ig account id>:<igsid>``: equal digits under
two Pages (or a Page and an Instagram account) are never taken for one person. The raw id, which
the Graph API wants back (``recipient: {id}``), is :func:`platform_user_id`. Pure functions: no
Django, no database.
"""

from __future__ import annotations

__all__ = [
    "IGSID",
    "PSID",
    "SPACES",
    "account_of",
    "id_space",
    "is_scoped",
    "platform_user_id",
    "scoped_id",
    "space_for",
]

PSID = "psid"
IGSID = "igsid"
#: Each space, and the platform (``SocialIdentity.platform``) whose ids it holds.
SPACES: dict[str, str] = {PSID: "facebook", IGSID: "instagram"}
_BY_PLATFORM = {platform: space for space, platform in SPACES.items()}


def space_for(platform: str) -> str:
    """The space of the people who write to a ``platform`` account ("" for a platform whose
    user ids are global)."""
    return _BY_PLATFORM.get(platform, "")


def scoped_id(space: str, account_id: str, user_id: str) -> str:
    """``<space>:<account id>:<user id>``: how socialcare stores ``user_id``, scoped to the Page
    or Instagram account ``account_id``. An already scoped ``user_id`` is returned unchanged when
    it belongs to this space and account (parsing twice changes nothing); one of another
    space or account is refused."""
    if space not in SPACES:
        raise ValueError(f"Unknown Meta id space {space!r} (known: {', '.join(SPACES)}).")
    account_id, user_id = str(account_id).strip(), str(user_id).strip()
    if not account_id or ":" in account_id:
        raise ValueError(
            f"A {space} needs the id of the account it is scoped to, not {account_id!r}."
        )
    if is_scoped(user_id):
        if id_space(user_id) == space and account_of(user_id) == account_id:
            return user_id
        raise ValueError(
            f"{user_id!r} is scoped to another space or account than {space}:{account_id}."
        )
    if not user_id or ":" in user_id:
        raise ValueError(f"Not a Meta user id: {user_id!r}.")
    return f"{space}:{account_id}:{user_id}"


def _parts(external_id: str) -> list[str] | None:
    parts = str(external_id).split(":")
    if len(parts) == 3 and parts[0] in SPACES and parts[1] and parts[2]:
        return parts
    return None


def is_scoped(external_id: str) -> bool:
    return _parts(external_id) is not None


def id_space(external_id: str) -> str:
    """``"psid"``, ``"igsid"``, or ``""`` for an id that is not scoped (a Page or Instagram
    account id, another platform's id, an identity stored before scoping)."""
    parts = _parts(external_id)
    return parts[0] if parts else ""


def account_of(external_id: str) -> str:
    """The Page or Instagram account a scoped id belongs to ("" when not scoped)."""
    parts = _parts(external_id)
    return parts[1] if parts else ""


def platform_user_id(external_id: str) -> str:
    """The id Meta knows (what the Send API's ``recipient.id`` takes): the user id of a scoped
    id, any other id unchanged."""
    parts = _parts(external_id)
    return parts[2] if parts else str(external_id)
