"""What clients see of webhook deliveries and of their tenant's webhook settings (never a secret's value)."""

from __future__ import annotations

from datetime import UTC, datetime

from pydantic import BaseModel, Field

from karlo_core.webhooks.outbox import Delivery
from karlo_core.webhooks.secrets import SecretInfo


class AttemptView(BaseModel):
    at: datetime
    outcome: str = Field(description="delivered, gone, redirect, http_error, timeout, connection_error, blocked")
    status_code: int | None
    latency_ms: float
    error: str | None


class DeliveryView(BaseModel):
    id: str = Field(description="The webhook-id header: the same on every attempt of this event")
    event: str
    status: str = Field(description="pending, delivered, dead (retries exhausted) or disabled (410 Gone)")
    url: str
    created_at: datetime
    next_attempt_at: datetime | None
    delivered_at: datetime | None
    attempts: list[AttemptView]


class DeliveryList(BaseModel):
    deliveries: list[DeliveryView]


class SecretInfoView(BaseModel):
    exists: bool
    created_at: datetime | None
    previous_valid_until: datetime | None = Field(description="Until then the previous secret signs as well")


class RotatedSecretView(BaseModel):
    secret: str = Field(description="whsec_...; shown only in this answer")
    created_at: datetime
    previous_valid_until: datetime | None


class DisabledEndpointView(BaseModel):
    url: str
    disabled_at: datetime
    delivery_id: str = Field(description="The delivery the receiver answered 410 Gone to")


class WebhookSettingsView(BaseModel):
    default_url: str | None
    disabled_endpoints: list[DisabledEndpointView]
    secret: SecretInfoView


class DefaultUrlRequest(BaseModel):
    url: str | None = Field(max_length=2048, description="Receiver for jobs that name none; null clears it")


class ReplayView(BaseModel):
    replayed: int


def _time(value: float | None) -> datetime | None:
    return datetime.fromtimestamp(value, UTC) if value is not None else None


def delivery_view(delivery: Delivery) -> DeliveryView:
    return DeliveryView(
        id=delivery.id,
        event=delivery.event,
        status=delivery.status,
        url=delivery.url,
        created_at=datetime.fromtimestamp(delivery.created_at, UTC),
        next_attempt_at=_time(delivery.next_at) if delivery.status == "pending" else None,
        delivered_at=_time(delivery.delivered_at),
        attempts=[
            AttemptView(
                at=datetime.fromtimestamp(float(a["at"]), UTC),
                outcome=a["outcome"],
                status_code=a.get("status_code"),
                latency_ms=float(a.get("latency_ms", 0)),
                error=a.get("error"),
            )
            for a in delivery.attempts
        ],
    )


def secret_info_view(info: SecretInfo) -> SecretInfoView:
    return SecretInfoView(
        exists=info.exists, created_at=_time(info.created_at), previous_valid_until=_time(info.previous_valid_until)
    )
