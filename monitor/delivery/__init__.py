"""Delivery: getting alerts to people and systems (websockets here; webhooks alongside)."""
