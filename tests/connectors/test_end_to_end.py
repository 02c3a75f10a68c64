"""Each inbound connector end to end on a live service: the platform's signed sample payload in -> a scored
turn with the right role -> an alert; the same payload with a bad signature -> 401 and nothing scored."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from urllib.parse import urlencode

import httpx
import pytest
import redis

from tests.conftest import LiveServer, make_settings
from tests.connectors.platforms import (
    dumps,
    fixture,
    intercom_headers,
    slack_headers,
    twilio_form,
    twilio_headers,
    zendesk_headers,
)
from tests.connectors.service import conversation
from tests.fakes import KeywordScorer

SECRETS = {
    "zendesk_webhook_secret": "zd-secret-of-our-own",
    "intercom_client_secret": "ic-secret-of-our-own",
    "livechat_secret_key": "lc-secret-of-our-own",
    "twilio_auth_token": "tw-token-of-our-own",
    "slack_signing_secret": "sl-secret-of-our-own",
}


@dataclass(frozen=True)
class Sample:
    platform: str
    body: bytes
    headers: Callable[[str, str], dict[str, str]]  # (secret, url) -> headers
    conversation_id: str
    turns: int  # scored turns the sample holds
    role: str  # of the first one


def _twilio_body() -> bytes:
    return urlencode(twilio_form()).encode()


SAMPLES = [
    Sample(
        "zendesk",
        dumps(fixture("zendesk_conversation_message.json")),
        lambda secret, _url: zendesk_headers(secret),
        "zendesk:65c2a1d3f5b8e80013bc0042",
        2,
        "customer",
    ),
    Sample(
        "intercom",
        dumps(fixture("intercom_conversation_user_replied.json")),
        lambda secret, _url: intercom_headers(secret, dumps(fixture("intercom_conversation_user_replied.json"))),
        "intercom:128004500012345",
        1,
        "customer",
    ),
    Sample(
        "livechat",
        dumps(fixture("livechat_incoming_event.json") | {"secret_key": SECRETS["livechat_secret_key"]}),
        lambda _secret, _url: {"content-type": "application/json"},
        "livechat:RK2P9QW1ZX:RK2P9QW2AB",
        1,
        "customer",
    ),
    Sample(
        "twilio",
        _twilio_body(),
        lambda secret, url: twilio_headers(secret, url, twilio_form()),
        "twilio:CH0a1b2c3d4e5f60718293a4b5c6d7e8f9",
        1,
        "customer",
    ),
    Sample(
        "slack",
        dumps(fixture("slack_event_callback.json")),
        lambda secret, _url: slack_headers(secret, dumps(fixture("slack_event_callback.json"))),
        "slack:T0SUPPORT1:C0HELPDESK:1764504333.000200",
        1,
        "customer",
    ),
]
SECRET_OF = {
    "zendesk": "zendesk_webhook_secret",
    "intercom": "intercom_client_secret",
    "livechat": "livechat_secret_key",
    "twilio": "twilio_auth_token",
    "slack": "slack_signing_secret",
}


@pytest.fixture(scope="module")
def service(redis_url: str) -> Iterator[LiveServer]:
    """One service for the module (each sample has its own conversation), on a Redis emptied first."""
    client = redis.Redis.from_url(redis_url)
    client.flushdb()
    client.close()
    with LiveServer(make_settings(redis_url, **SECRETS), KeywordScorer()) as server:
        yield server


@pytest.mark.parametrize("sample", SAMPLES, ids=lambda s: s.platform)
def test_sample_payload_is_scored_and_raises_an_alert(service: LiveServer, sample: Sample) -> None:
    """Signed as the platform signs it: 200 at once, then the turns are scored and the angry one alerts."""
    url = f"{service.http}/v1/connectors/{sample.platform}"
    with httpx.Client(base_url=service.http) as client:
        answer = client.post(url, content=sample.body, headers=sample.headers(SECRETS[SECRET_OF[sample.platform]], url))
        assert answer.status_code == 200, answer.text
        assert answer.json()["queued"] >= 1
        detail = conversation(client, sample.conversation_id, turns=sample.turns, alerts=1)
        assert detail["turns"][0]["role"] == sample.role
        assert any(a["rule"] == "anger" for a in detail["alerts"]), detail["alerts"]
        again = client.post(url, content=sample.body, headers=sample.headers(SECRETS[SECRET_OF[sample.platform]], url))
        assert again.json()["queued"] == 0  # a re-delivery is dropped


@pytest.mark.parametrize("sample", SAMPLES, ids=lambda s: s.platform)
def test_bad_signature_is_refused(service: LiveServer, sample: Sample) -> None:
    """Signed with the wrong secret (LiveChat: the wrong secret_key in the body): 401, nothing queued."""
    url = f"{service.http}/v1/connectors/{sample.platform}"
    body = sample.body.replace(SECRETS["livechat_secret_key"].encode(), b"not-the-key")
    with httpx.Client(base_url=service.http) as client:
        answer = client.post(url, content=body, headers=sample.headers("not-the-secret", url))
        assert answer.status_code == 401 and answer.json()["code"] == "bad_signature"


def test_slack_url_verification_gets_its_challenge_back(service: LiveServer) -> None:
    """The Events API handshake is signed too, and answered with the challenge."""
    payload = fixture("slack_url_verification.json")
    body = dumps(payload)
    with httpx.Client(base_url=service.http) as client:
        answer = client.post(
            "/v1/connectors/slack", content=body, headers=slack_headers(SECRETS["slack_signing_secret"], body)
        )
        assert answer.status_code == 200 and answer.json() == {"challenge": payload["challenge"]}


def test_unknown_platform_is_404(service: LiveServer) -> None:
    """A platform with no connector names the ones there are."""
    with httpx.Client(base_url=service.http) as client:
        answer = client.post("/v1/connectors/teams", content=b"{}")
        assert answer.status_code == 404 and "chatwoot" in answer.json()["detail"]
