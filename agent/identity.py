"""The user's identity and title key (spec 1.3): kept in :mod:`engine.identity`, where the
agent and the trainer's ``labels add`` (which never imports the agent) both create them."""

from engine.identity import Identity, load_or_create_identity, load_or_create_title_key

__all__ = ["Identity", "load_or_create_identity", "load_or_create_title_key"]
