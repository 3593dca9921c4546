"""Fakes of the platforms' APIs that refuse what the real ones refuse (docs/replies.md), served
by ``tests.platform_server.PlatformServer``."""
