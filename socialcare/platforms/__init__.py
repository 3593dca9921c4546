"""Platform adapters: bytes in, normalized dataclasses out; replies out over HTTP.

Nothing here imports socialcare models. See ``base`` for the protocol and ``registry`` for lookup.
"""
