"""Deliveries of the webhook platforms, as they send them: X Account Activity and Meta (Facebook
Page feed, Messenger, Instagram comments and Direct), signed with the channel's secret."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import html
import json
import random
from collections.abc import Mapping
from typing import Any

from socialcare.simulator.crowd import _HASHTAG, Persona, _b32, _stable_int
from socialcare.simulator.targets import SimPost, Target, _Draft

USER_AGENT = "socialcare-simulator/1"
X_SIGNATURE_HEADER = "x-twitter-webhooks-signature"
META_SIGNATURE_HEADER = "X-Hub-Signature-256"
TWITTER_EPOCH_MS = 1288834974657


# Signatures, exactly as the platforms make them (and the adapters check them) ----------------------
def x_signature(body: bytes, secret: str) -> str:
    """``x-twitter-webhooks-signature``: ``sha256=`` + base64 HMAC-SHA256 of the raw body."""
    digest = hmac.new(secret.encode(), body, hashlib.sha256).digest()
    return "sha256=" + base64.b64encode(digest).decode("ascii")


def meta_signature(body: bytes, secret: str) -> str:
    """``X-Hub-Signature-256``: ``sha256=`` + lowercase hex HMAC-SHA256 of the raw body."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def _meta_sha1(body: bytes, secret: str) -> str:
    """The legacy ``X-Hub-Signature`` Meta still sends next to the SHA-256 one."""
    return "sha1=" + hmac.new(secret.encode(), body, hashlib.sha1).hexdigest()


class WebhookPayloads:
    """The X and Meta builders of ``Simulator`` (which provides ``rng``, ``_tick`` and ``_post``)."""

    rng: random.Random

    # X: Account Activity API ----------------------------------------------------------------------
    def _x_user(self, persona: Persona) -> dict[str, Any]:
        user_id = persona.user_id("x")
        handle = persona.handle_on("x")
        created = dt.datetime(2010, 1, 1, tzinfo=dt.UTC) + dt.timedelta(
            seconds=_stable_int("created", persona.key, digits=9) % (14 * 365 * 86400)
        )
        return {
            "id": int(user_id),
            "id_str": user_id,
            "name": persona.name,
            "screen_name": handle,
            "location": None,
            "url": None,
            "description": "",
            "protected": False,
            "verified": persona.verified,
            "followers_count": persona.followers,
            "friends_count": _stable_int("friends", persona.key, digits=3) % 900,
            "listed_count": persona.followers // 200,
            "favourites_count": _stable_int("favs", persona.key, digits=4),
            "statuses_count": _stable_int("statuses", persona.key, digits=4),
            "created_at": _x_time(created),
            "profile_image_url_https": f"https://pbs.twimg.com/profile_images/{user_id[:12]}/avatar_normal.jpg",
            "default_profile": True,
            "default_profile_image": False,
        }

    def _x(self, target: Target, draft: _Draft) -> tuple[SimPost, dict[str, Any]]:
        ms, seq = self._tick()
        persona = draft.persona
        user = self._x_user(persona)
        brand_id, brand = target.account_id, target.brand_handle
        if draft.private:
            event_id = str(((ms - TWITTER_EPOCH_MS) << 22) | (seq % 4096))
            escaped = html.escape(draft.text, quote=False)
            brand_user = {
                "id": brand_id,
                "created_timestamp": "1488090992969",
                "name": target.name,
                "screen_name": brand,
                "protected": False,
                "verified": True,
                "followers_count": 120_000,
                "friends_count": 10,
                "statuses_count": 52_000,
                "profile_image_url_https": "https://pbs.twimg.com/profile_images/1/brand_normal.jpg",
            }
            sender = {
                "id": user["id_str"],
                "created_timestamp": str(_stable_int("created", persona.key, digits=12)),
                **{k: user[k] for k in ("name", "screen_name", "description", "protected",
                                        "verified", "followers_count", "friends_count",
                                        "statuses_count", "profile_image_url_https")},
            }  # fmt: skip
            payload = {
                "for_user_id": brand_id,
                "direct_message_events": [
                    {
                        "type": "message_create",
                        "id": event_id,
                        "created_timestamp": str(ms),
                        "message_create": {
                            "target": {"recipient_id": brand_id},
                            "sender_id": user["id_str"],
                            "source_app_id": "3033300",
                            "message_data": {
                                "text": escaped,
                                "entities": {
                                    "hashtags": _hashtags(escaped),
                                    "symbols": [],
                                    "user_mentions": [],
                                    "urls": [],
                                },
                            },
                        },
                    }
                ],
                "apps": {
                    "3033300": {
                        "id": "3033300",
                        "name": "Twitter Web App",
                        "url": "https://mobile.twitter.com",
                    }
                },
                "users": {user["id_str"]: sender, brand_id: brand_user},
            }
            post = self._post(
                target, draft, kind="direct_message", text=draft.text, external_id=event_id,
                **self._signed_x(target, payload),
            )  # fmt: skip
            return post, {"dm": event_id}

        tweet_id = ((ms - TWITTER_EPOCH_MS) << 22) | (1 << 12) | (seq % 4096)
        parent = draft.parent.data if draft.parent else None
        mentions = []  # (screen name, id) in the order they lead the text
        if parent and parent["user_id"] != user["id_str"]:
            mentions.append((parent["screen_name"], parent["user_id"]))
        mentions.append((brand, brand_id))
        prefix = "".join(f"@{name} " for name, _ in mentions)
        full_text = prefix + draft.text
        escaped = html.escape(full_text, quote=False)
        user_mentions, position = [], 0
        for name, uid in mentions:
            user_mentions.append(
                {"screen_name": name, "name": name, "id": int(uid) if uid.isdigit() else uid,
                 "id_str": uid, "indices": [position, position + len(name) + 1]}
            )  # fmt: skip
            position += len(name) + 2
        entities = {
            "hashtags": _hashtags(escaped),
            "urls": [],
            "user_mentions": user_mentions,
            "symbols": [],
        }
        tweet: dict[str, Any] = {
            "created_at": _x_time(dt.datetime.fromtimestamp(ms / 1000, dt.UTC)),
            "id": tweet_id,
            "id_str": str(tweet_id),
            "text": escaped,
            "source": '<a href="https://mobile.twitter.com" rel="nofollow">Twitter Web App</a>',
            "truncated": False,
            "in_reply_to_status_id": int(parent["id"]) if parent else None,
            "in_reply_to_status_id_str": parent["id"] if parent else None,
            "in_reply_to_user_id": int(parent["user_id"])
            if parent
            else int(brand_id)
            if brand_id.isdigit()
            else None,
            "in_reply_to_user_id_str": parent["user_id"] if parent else brand_id,
            "in_reply_to_screen_name": parent["screen_name"] if parent else brand,
            "user": user,
            "geo": None,
            "coordinates": None,
            "place": None,
            "contributors": None,
            "is_quote_status": False,
            "quote_count": 0,
            "reply_count": 0,
            "retweet_count": 0,
            "favorite_count": 0,
            "entities": entities,
            "favorited": False,
            "retweeted": False,
            "filter_level": "low",
            "lang": persona.lang,
            "timestamp_ms": str(ms),
        }
        if len(escaped) > 140:  # a long tweet: the classic text is cut, the full text is extended
            link = f"https://t.co/{_b32(hashlib.sha256(str(tweet_id).encode()).digest())[:10]}"
            cut = escaped[:115].rstrip() + "… " + link
            tweet["text"] = cut
            tweet["truncated"] = True
            tweet["display_text_range"] = [len(prefix), len(cut)]
            tweet["entities"] = {
                "hashtags": [], "user_mentions": user_mentions, "symbols": [],
                "urls": [{"url": link, "expanded_url": f"https://twitter.com/i/web/status/{tweet_id}",
                          "display_url": f"twitter.com/i/web/status/{str(tweet_id)[:4]}…",
                          "indices": [len(cut) - len(link), len(cut)]}],
            }  # fmt: skip
            tweet["extended_tweet"] = {
                "full_text": escaped,
                "display_text_range": [len(prefix), len(escaped)],
                "entities": entities,
            }
        payload = {
            "for_user_id": brand_id,
            "user_has_blocked": False,
            "tweet_create_events": [tweet],
        }
        post = self._post(
            target, draft, kind="reply" if parent else "mention", text=full_text,
            external_id=str(tweet_id), **self._signed_x(target, payload),
        )  # fmt: skip
        return post, {
            "id": str(tweet_id),
            "user_id": user["id_str"],
            "screen_name": user["screen_name"],
        }

    def _signed_x(self, target: Target, payload: Mapping[str, Any]) -> dict[str, Any]:
        body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "User-Agent": USER_AGENT,
            X_SIGNATURE_HEADER: x_signature(body, target.secret),
        }
        return {"body": body, "headers": headers}

    # Meta: Facebook Page feed, Messenger, Instagram ----------------------------------------------------
    def _page_post(self, target: Target) -> tuple[str, str]:
        """One of the Page's three latest posts customers comment on: (post_id, permalink)."""
        number = self.rng.randrange(3)
        object_id = str(_stable_int("page-post", target.account_id, str(number), digits=15))
        page = target.handle.strip().lstrip("@") or target.account_id
        return (
            f"{target.account_id}_{object_id}",
            f"https://www.facebook.com/{page}/posts/{object_id}",
        )

    def _facebook(self, target: Target, draft: _Draft) -> tuple[SimPost, dict[str, Any]]:
        if draft.private:
            return self._messaging(target, draft, "page")
        ms, seq = self._tick()
        seconds = ms // 1000
        persona = draft.persona
        parent = draft.parent.data if draft.parent else None
        if parent:
            post_id, permalink = parent["post_id"], parent["permalink"]
        else:
            post_id, permalink = self._page_post(target)
        object_id = post_id.split("_", 1)[1]
        comment_id = f"{object_id}_{ms * 1000 + seq % 1000}"
        value = {
            "from": {"id": persona.user_id("facebook"), "name": persona.name},
            "post": {
                "status_type": "added_photos",
                "is_published": True,
                "updated_time": dt.datetime.fromtimestamp(seconds, dt.UTC).strftime(
                    "%Y-%m-%dT%H:%M:%S+0000"
                ),
                "permalink_url": permalink,
                "promotion_status": "inactive",
                "id": post_id,
            },
            "message": draft.text,
            "post_id": post_id,
            "comment_id": comment_id,
            "created_time": seconds,
            "item": "comment",
            "parent_id": parent["top_id"] if parent else post_id,
            "verb": "add",
        }
        payload = {
            "object": "page",
            "entry": [
                {
                    "id": target.account_id,
                    "time": seconds,
                    "changes": [{"value": value, "field": "feed"}],
                }
            ],
        }
        post = self._post(
            target, draft, kind="comment", text=draft.text, external_id=comment_id,
            **self._signed_meta(target, payload),
        )  # fmt: skip
        top = parent["top_id"] if parent else comment_id  # comment threads are two levels deep
        return post, {"top_id": top, "post_id": post_id, "permalink": permalink}

    def _instagram(self, target: Target, draft: _Draft) -> tuple[SimPost, dict[str, Any]]:
        if draft.private:
            return self._messaging(target, draft, "instagram")
        ms, seq = self._tick()
        persona = draft.persona
        parent = draft.parent.data if draft.parent else None
        if parent:
            media_id = parent["media_id"]
        else:
            media_id = str(
                _stable_int("ig-media", target.account_id, str(self.rng.randrange(3)), digits=17)
            )
        comment_id = f"178{(ms * 100 + seq % 100) % 10**14:014d}"
        value: dict[str, Any] = {
            "from": {
                "id": persona.user_id("instagram"),
                "username": persona.handle_on("instagram"),
            },
            "media": {"id": media_id, "media_product_type": "FEED"},
            "id": comment_id,
            "text": draft.text,
        }
        if parent:  # Instagram threads are one level deep: a reply names the top-level comment
            value["parent_id"] = parent["top_id"]
        payload = {
            "object": "instagram",
            "entry": [
                {
                    "id": target.account_id,
                    "time": ms // 1000,
                    "changes": [{"field": "comments", "value": value}],
                }
            ],
        }
        post = self._post(
            target, draft, kind="comment", text=draft.text, external_id=comment_id,
            **self._signed_meta(target, payload),
        )  # fmt: skip
        top = parent["top_id"] if parent else comment_id
        return post, {"comment_id": comment_id, "top_id": top, "media_id": media_id}

    def _messaging(
        self, target: Target, draft: _Draft, kind: str
    ) -> tuple[SimPost, dict[str, Any]]:
        """A Messenger (``object: page``) or Instagram Direct (``object: instagram``) message."""
        ms, seq = self._tick()
        persona = draft.persona
        platform = "facebook" if kind == "page" else "instagram"
        if kind == "page":
            digest = hashlib.sha256(f"{target.account_id}:{ms}:{seq}".encode()).digest()
            mid = "m_" + base64.urlsafe_b64encode(digest).decode("ascii").rstrip("=")
        else:
            raw = f"ig_message_item:1:IGMessageThread:{target.account_id}:{ms}{seq:04d}"
            mid = base64.b64encode(raw.encode()).decode("ascii").rstrip("=")
        message: dict[str, Any] = {"mid": mid, "text": draft.text}
        if draft.parent and draft.parent.private and self.rng.random() < 0.5:
            message["reply_to"] = {"mid": draft.parent.data["mid"]}
        if kind == "page" and draft.category == "private" and self.rng.random() < 0.15:
            message["attachments"] = [
                {
                    "type": "image",
                    "payload": {
                        "url": f"https://scontent.xx.fbcdn.net/v/t1.15752-9/{mid[2:14]}.jpg"
                    },
                }
            ]
        payload = {
            "object": kind,
            "entry": [{
                "id": target.account_id,
                "time": ms,
                "messaging": [{
                    "sender": {"id": persona.user_id(platform)},
                    "recipient": {"id": target.account_id},
                    "timestamp": ms,
                    "message": message,
                }],
            }],
        }  # fmt: skip
        post = self._post(
            target, draft, kind="direct_message", text=draft.text, external_id=mid,
            **self._signed_meta(target, payload),
        )  # fmt: skip
        return post, {"mid": mid}

    def _signed_meta(self, target: Target, payload: Mapping[str, Any]) -> dict[str, Any]:
        # Meta sends ASCII JSON: non-ASCII as \\uXXXX escapes, emoji as surrogate pairs.
        body = json.dumps(payload, ensure_ascii=True, separators=(",", ":")).encode("ascii")
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "facebookexternalua",
            "X-Hub-Signature": _meta_sha1(body, target.secret),
            META_SIGNATURE_HEADER: meta_signature(body, target.secret),
        }
        return {"body": body, "headers": headers}


def _x_time(when: dt.datetime) -> str:
    """``Sat Nov 28 05:30:03 +0000 2020``, independent of the locale."""
    days = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
    months = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
    when = when.astimezone(dt.UTC)
    return f"{days[when.weekday()]} {months[when.month - 1]} {when.day:02d} {when:%H:%M:%S} +0000 {when.year}"


def _hashtags(text: str) -> list[dict[str, Any]]:
    return [{"text": m.group(1), "indices": [m.start(), m.end()]} for m in _HASHTAG.finditer(text)]
