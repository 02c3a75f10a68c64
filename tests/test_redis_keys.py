"""Redis key names: one prefix for everything, and one hash slot per conversation, per endpoint, per access set."""

from __future__ import annotations

import re

from monitor import redis_keys

HASH_TAG = re.compile(r"\{([^}]*)\}")


def _hash_tag(key: str) -> str | None:
    match = HASH_TAG.search(key)
    return match.group(1) if match else None


def test_every_name_has_the_prefix() -> None:
    """Every constant and every key function's result starts with cw: (consumer group names are not keys)."""
    constants = [
        v
        for k, v in vars(redis_keys).items()
        if k.isupper() and isinstance(v, str) and k != "PREFIX" and not k.endswith("_GROUP")
    ]
    made = [
        *redis_keys.conversation_keys("c1"),
        redis_keys.reply("c1", "m1"),
        redis_keys.rate_limit("key_1"),
        redis_keys.webhook_due("ep_1"),
        redis_keys.webhook_deliveries("ep_1"),
        redis_keys.webhook_delivery("ep_1", "msg_1"),
        redis_keys.webhook_attempts("ep_1", "msg_1"),
        redis_keys.connector_seen("chatwoot", "msg:2:9001"),
        redis_keys.chatwoot_note("1-0"),
        redis_keys.chatwoot_last_note("chatwoot:2:41"),
    ]
    assert all(name.startswith(redis_keys.PREFIX) for name in made)
    assert all(name.startswith(redis_keys.PREFIX) for name in constants)


def test_keys_written_together_share_a_hash_slot() -> None:
    """A conversation's keys, an endpoint's keys and the two API key hashes each carry one hash tag, so each
    group can be written in one MULTI on Redis Cluster."""
    conversation = [*redis_keys.conversation_keys("c 1"), redis_keys.reply("c 1", "m1")]
    assert {_hash_tag(k) for k in conversation} == {"c 1"}
    endpoint = [
        redis_keys.webhook_due("ep_1"),
        redis_keys.webhook_deliveries("ep_1"),
        redis_keys.webhook_delivery("ep_1", "d"),
        redis_keys.webhook_attempts("ep_1", "d"),
    ]
    assert {_hash_tag(k) for k in endpoint} == {"ep_1"}
    assert _hash_tag(redis_keys.API_KEYS) == _hash_tag(redis_keys.API_KEY_IDS) == "auth"


def test_conversation_match_finds_every_key_of_the_conversation_and_no_other(flushed_redis: str) -> None:
    """SCAN MATCH conversation_match(id) (what erasure deletes) yields each of the conversation's keys, also for
    ids with glob characters, and never a key of a conversation whose id merely starts the same."""
    import redis

    client = redis.Redis.from_url(flushed_redis, decode_responses=True)
    try:
        for cid in ("c1", "c1*", "c[1]?"):
            client.flushdb()
            mine = [*redis_keys.conversation_keys(cid), redis_keys.reply(cid, "m1")]
            others = [*redis_keys.conversation_keys(cid + "0"), redis_keys.reply("c10", "m1")]
            for key in [*mine, *others]:
                client.set(key, "x")
            assert sorted(client.scan_iter(match=redis_keys.conversation_match(cid))) == sorted(mine)
            metas = list(client.scan_iter(match=redis_keys.CONVERSATIONS_MATCH))
            assert sorted(str(redis_keys.conversation_id_of(k)) for k in metas) == sorted([cid, cid + "0"])
    finally:
        client.close()
