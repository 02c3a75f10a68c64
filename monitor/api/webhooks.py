"""``/v1/webhooks``: endpoints, their secrets, their delivery log. Admin keys only.

The signing secret is returned when an endpoint is created and when it is rotated, and never again: a
listing that leaked it would make every receiver's signature check worthless.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, Response
from pydantic import BaseModel, ConfigDict, Field, HttpUrl

from monitor.api.deps import runtime
from monitor.api.errors import ErrorBody
from monitor.auth import require
from monitor.delivery.webhooks import DeliveryView, EventType, WebhookEndpoint, new_secret
from monitor.runtime import Runtime
from monitor.schemas import Severity, utcnow

router = APIRouter(prefix="/v1/webhooks", tags=["webhooks"], dependencies=[Depends(require("admin"))])
Rt = Annotated[Runtime, Depends(runtime)]
_ERRORS: dict[int | str, dict[str, object]] = {
    401: {"model": ErrorBody, "description": "No valid API key or token"},
    403: {"model": ErrorBody, "description": "Not an admin key"},
    404: {"model": ErrorBody, "description": "Unknown endpoint or delivery"},
    422: {"model": ErrorBody, "description": "Invalid fields"},
}
RuleId = Annotated[str, Field(pattern=r"^[A-Za-z0-9_.\-]{1,64}$")]


class WebhookCreate(BaseModel):
    """``POST /v1/webhooks``: where to send which events."""

    model_config = ConfigDict(extra="forbid")

    url: HttpUrl
    events: list[EventType] = Field(min_length=1)
    description: str = Field(default="", max_length=500)
    rules: list[RuleId] | None = Field(default=None, description="only alerts of these rules (default: all)")
    min_severity: Severity | None = Field(default=None, description="only alerts at least this severe")


class WebhookPatch(BaseModel):
    """``PATCH /v1/webhooks/{id}``: the fields given are changed; ``enabled: true`` re-enables a disabled one."""

    model_config = ConfigDict(extra="forbid")

    url: HttpUrl | None = None
    events: list[EventType] | None = Field(default=None, min_length=1)
    description: str | None = Field(default=None, max_length=500)
    rules: list[RuleId] | None = None
    min_severity: Severity | None = None
    enabled: bool | None = None


class WebhookView(BaseModel):
    """An endpoint as the API shows it: configuration and health, no secret."""

    id: str
    url: str
    events: list[str]
    description: str
    rules: list[str] | None
    min_severity: Severity | None
    enabled: bool
    disabled_reason: str | None
    created_at: datetime
    failing_since: datetime | None
    last_success_at: datetime | None
    last_failure_at: datetime | None
    pending_deliveries: int

    @classmethod
    def of(cls, endpoint: WebhookEndpoint, pending: int) -> WebhookView:
        fields = endpoint.model_dump(exclude={"secret", "previous_secret", "previous_secret_until"})
        return cls(**fields, pending_deliveries=pending)


class WebhookCreated(WebhookView):
    secret: str = Field(description="the signing secret (whsec_...); shown only now")


class SecretRotated(BaseModel):
    secret: str = Field(description="the new signing secret; shown only now")
    previous_secret_valid_until: datetime = Field(description="deliveries carry both signatures until then")


async def _endpoint(rt: Runtime, endpoint_id: str) -> WebhookEndpoint:
    endpoint = await rt.webhooks.store.get(endpoint_id)
    if endpoint is None:
        raise HTTPException(404, f"no webhook endpoint {endpoint_id!r}")
    return endpoint


async def _view(rt: Runtime, endpoint: WebhookEndpoint) -> WebhookView:
    return WebhookView.of(endpoint, await rt.webhooks.store.pending_count(endpoint.id))


@router.post("", status_code=201, response_model=WebhookCreated, responses=_ERRORS)
async def create_webhook(body: WebhookCreate, rt: Rt) -> WebhookCreated:
    """Register an endpoint. The answer holds its signing secret, which is never shown again."""
    endpoint = await rt.webhooks.store.create(
        str(body.url), body.events, description=body.description, rules=body.rules, min_severity=body.min_severity
    )
    return WebhookCreated(**WebhookView.of(endpoint, 0).model_dump(), secret=endpoint.secret)


@router.get("", response_model=list[WebhookView], responses=_ERRORS)
async def list_webhooks(rt: Rt) -> list[WebhookView]:
    """Every endpoint, oldest first, with its health."""
    return [await _view(rt, e) for e in await rt.webhooks.store.endpoints()]


@router.get("/{endpoint_id}", response_model=WebhookView, responses=_ERRORS)
async def get_webhook(endpoint_id: str, rt: Rt) -> WebhookView:
    """One endpoint: configuration, health (failing since, disabled and why) and queued deliveries."""
    return await _view(rt, await _endpoint(rt, endpoint_id))


@router.patch("/{endpoint_id}", response_model=WebhookView, responses=_ERRORS)
async def update_webhook(endpoint_id: str, body: WebhookPatch, rt: Rt) -> WebhookView:
    """Change the fields given. Re-enabling clears the failure record, and queued deliveries resume."""
    changes = body.model_dump(exclude_unset=True)
    if "url" in changes and changes["url"] is not None:
        changes["url"] = str(body.url)
    for required in ("url", "events", "description", "enabled"):
        if required in changes and changes[required] is None:
            raise HTTPException(422, f"{required} cannot be null")

    def apply(endpoint: WebhookEndpoint) -> WebhookEndpoint:
        if changes.get("enabled") and not endpoint.enabled:
            endpoint.disabled_reason, endpoint.failing_since = None, None
        elif changes.get("enabled") is False:
            endpoint.disabled_reason = "disabled by an admin"
        return endpoint.model_copy(update=changes)

    endpoint = await rt.webhooks.store.update(endpoint_id, apply)
    if endpoint is None:
        raise HTTPException(404, f"no webhook endpoint {endpoint_id!r}")
    rt.webhooks.wake()
    return await _view(rt, endpoint)


@router.delete("/{endpoint_id}", status_code=204, responses=_ERRORS)
async def delete_webhook(endpoint_id: str, rt: Rt) -> Response:
    """Remove the endpoint and drop its queued deliveries."""
    if not await rt.webhooks.store.delete(endpoint_id):
        raise HTTPException(404, f"no webhook endpoint {endpoint_id!r}")
    return Response(status_code=204)


@router.post("/{endpoint_id}/rotate-secret", response_model=SecretRotated, responses=_ERRORS)
async def rotate_secret(endpoint_id: str, rt: Rt) -> SecretRotated:
    """A new signing secret; the old one keeps signing too for ``CALMWATCH_WEBHOOK_SECRET_GRACE_S`` (24 h)."""
    secret = new_secret()
    grace = timedelta(seconds=rt.settings.webhook_secret_grace_s)

    def apply(endpoint: WebhookEndpoint) -> WebhookEndpoint:
        endpoint.previous_secret, endpoint.secret = endpoint.secret, secret
        endpoint.previous_secret_until = utcnow() + grace
        return endpoint

    endpoint = await rt.webhooks.store.update(endpoint_id, apply)
    if endpoint is None or endpoint.previous_secret_until is None:
        raise HTTPException(404, f"no webhook endpoint {endpoint_id!r}")
    return SecretRotated(secret=secret, previous_secret_valid_until=endpoint.previous_secret_until)


@router.post("/{endpoint_id}/test", response_model=DeliveryView, responses=_ERRORS)
async def test_webhook(endpoint_id: str, rt: Rt) -> DeliveryView:
    """Send a signed ``webhook.test`` message now and answer with the attempt (status, latency, error)."""
    return await rt.webhooks.send_test(await _endpoint(rt, endpoint_id))


@router.get("/{endpoint_id}/deliveries", response_model=list[DeliveryView], responses=_ERRORS)
async def list_deliveries(
    endpoint_id: str, rt: Rt, limit: Annotated[int, Query(ge=1, le=1000)] = 50
) -> list[DeliveryView]:
    """The newest deliveries first, each with every attempt: time, HTTP status, latency, error."""
    await _endpoint(rt, endpoint_id)
    return await rt.webhooks.store.deliveries(endpoint_id, limit=limit)


@router.get("/{endpoint_id}/deliveries/{delivery_id}", response_model=DeliveryView, responses=_ERRORS)
async def get_delivery(endpoint_id: str, delivery_id: str, rt: Rt) -> DeliveryView:
    """One delivery (its id is the ``webhook-id`` header the receiver saw) with its attempts."""
    view = await rt.webhooks.store.delivery(endpoint_id, delivery_id)
    if view is None:
        raise HTTPException(404, f"no delivery {delivery_id!r} for endpoint {endpoint_id!r}")
    return view


@router.post(
    "/{endpoint_id}/deliveries/{delivery_id}/resend", status_code=202, response_model=DeliveryView, responses=_ERRORS
)
async def resend_delivery(endpoint_id: str, delivery_id: str, rt: Rt) -> DeliveryView:
    """Queue the delivery again now: same ``webhook-id`` and body, a fresh retry schedule."""
    await _endpoint(rt, endpoint_id)
    view = await rt.webhooks.resend(endpoint_id, delivery_id)
    if view is None:
        raise HTTPException(404, f"no delivery {delivery_id!r} for endpoint {endpoint_id!r}")
    return view
