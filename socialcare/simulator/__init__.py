"""Live traffic for the demo and for benchmarks: ``manage.py socialcare_simulate``.

Three parts, used by the management command (which only parses options and prints):

* ``Simulator`` (``generator``, with the wire formats in ``webhook_payloads`` and
  ``polled_payloads`` and the customers and their texts in ``crowd``) makes posts in the
  platforms' real wire formats: X Account Activity deliveries (``tweet_create_events`` with user
  objects, ``direct_message_events`` with the ``users`` map), Meta deliveries (Page ``feed``
  comments and replies, Messenger ``messaging``, Instagram ``comments`` and messaging), Mastodon
  notifications and Bluesky notifications with their authors' profiles. Customers come from a
  fixed pool (several languages, emoji, heavy-tailed follower counts): some write again in the
  thread they started, some answer another customer, about 30 % write privately. Everything the
  seed decides (who writes what, where, in which order) repeats with the same ``seed``; ids and
  times come from the clock, so a second run makes new posts.
* ``FakePlatformAPI`` (``fake_api``) is a small threaded HTTP server on 127.0.0.1 that plays the
  Mastodon and Bluesky APIs for polled channels (``/api/v1/notifications``; ``createSession``,
  ``listNotifications``, ``getProfiles``), serving what the simulator generated.
* ``Run`` (``run``) sends webhook deliveries, signed with each channel's stored
  ``webhook_secret``, to a running server over HTTP (at a rate, with parallel senders), points
  polled channels at the fake API for the run (restoring their base URL and cursor afterwards,
  also on Ctrl-C) and polls them every couple of seconds, storing each page as a delivery queued
  for the server's worker (nothing is ingested in the simulator's process), and counts what
  happened. ``report`` prints it.

See docs/simulator.md.
"""

from socialcare.simulator.crowd import POOL, Persona, crowd_member
from socialcare.simulator.fake_api import FakePlatformAPI
from socialcare.simulator.generator import Simulator
from socialcare.simulator.report import ProgressLine, dry_run, plan, summary
from socialcare.simulator.run import Options, Run, SimulatorError, Stats, webhook_path
from socialcare.simulator.targets import (
    EXAMPLE_TARGETS,
    FAKE_PREFIX,
    POLLED_PLATFORMS,
    SIMULATED_PLATFORMS,
    WEBHOOK_PLATFORMS,
    SimPost,
    Target,
    _Draft,
    _Ref,
    load_targets,
)
from socialcare.simulator.webhook_payloads import (
    META_SIGNATURE_HEADER,
    USER_AGENT,
    X_SIGNATURE_HEADER,
    _meta_sha1,
    meta_signature,
    x_signature,
)

__all__ = [
    "EXAMPLE_TARGETS",
    "FAKE_PREFIX",
    "META_SIGNATURE_HEADER",
    "POLLED_PLATFORMS",
    "POOL",
    "SIMULATED_PLATFORMS",
    "USER_AGENT",
    "WEBHOOK_PLATFORMS",
    "X_SIGNATURE_HEADER",
    "FakePlatformAPI",
    "Options",
    "Persona",
    "ProgressLine",
    "Run",
    "SimPost",
    "Simulator",
    "SimulatorError",
    "Stats",
    "Target",
    "_Draft",
    "_Ref",
    "_meta_sha1",
    "crowd_member",
    "dry_run",
    "load_targets",
    "meta_signature",
    "plan",
    "summary",
    "webhook_path",
    "x_signature",
]
