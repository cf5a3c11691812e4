"""``/v1/webhooks``: the tenant's default receiver, signing secret, disabled endpoints and dead letters."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter, Query, Response, status

from karlo_api.deps import ApiState, StateDep, TenantDep
from karlo_api.problems import Problem, invalid_input, problems_for
from karlo_api.webhook_targets import require_secret
from karlo_api.webhook_urls import webhook_url_issues
from karlo_api.webhook_views import (
    DefaultUrlRequest,
    DeliveryList,
    DisabledEndpointView,
    ReplayView,
    RotatedSecretView,
    SecretInfoView,
    WebhookSettingsView,
    delivery_view,
    secret_info_view,
)
from karlo_core.webhooks.events import MAX_URL_LENGTH

router = APIRouter(prefix="/v1/webhooks", tags=["webhooks"])


def _settings_view(state: ApiState, tenant: str) -> WebhookSettingsView:
    disabled = [
        DisabledEndpointView(
            url=url, disabled_at=datetime.fromtimestamp(float(info["at"]), UTC), delivery_id=info["delivery_id"]
        )
        for url, info in sorted(state.webhook_endpoints.disabled_endpoints(tenant).items())
    ]
    return WebhookSettingsView(
        default_url=state.webhook_endpoints.default_url(tenant),
        disabled_endpoints=disabled,
        secret=secret_info_view(state.webhook_secrets.info(tenant)),
    )


@router.get("", response_model=WebhookSettingsView, responses=problems_for(401, 422, 503))
def read_webhook_settings(state: StateDep, tenant: TenantDep) -> WebhookSettingsView:
    """The default receiver, endpoints disabled by a 410 answer, and the secret's dates (never its value)."""
    return _settings_view(state, tenant)


@router.put("/default", response_model=WebhookSettingsView, responses=problems_for(401, 409, 422, 503))
def set_default_url(body: DefaultUrlRequest, state: StateDep, tenant: TenantDep) -> WebhookSettingsView:
    """Set the receiver for jobs created from now on without their own ``webhook``; it is enabled again."""
    if body.url is not None:
        issues = webhook_url_issues(state.webhook_guards.for_tenant(tenant), body.url, "url")
        if issues:
            raise invalid_input(issues)
        require_secret(state, tenant)
    state.webhook_endpoints.set_default_url(tenant, body.url)
    state.tenant_cache.forget_webhooks(tenant)
    return _settings_view(state, tenant)


@router.delete(
    "/disabled-endpoints", status_code=status.HTTP_204_NO_CONTENT, responses=problems_for(401, 404, 422, 503)
)
def enable_endpoint(state: StateDep, tenant: TenantDep, url: str = Query(max_length=MAX_URL_LENGTH)) -> Response:
    """Send to an endpoint again after it answered 410 Gone."""
    if not state.webhook_endpoints.enable(tenant, url):
        raise Problem(404, "endpoint-not-disabled", "Endpoint not disabled", f"{url!r} is not disabled")
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/secret", response_model=SecretInfoView, responses=problems_for(401, 422, 503))
def read_secret(state: StateDep, tenant: TenantDep) -> SecretInfoView:
    """Whether the tenant has a signing secret, and since when; the secret itself is shown only on rotation."""
    return secret_info_view(state.webhook_secrets.info(tenant))


@router.post(
    "/secret/rotate",
    status_code=status.HTTP_201_CREATED,
    response_model=RotatedSecretView,
    responses=problems_for(401, 422, 503),
)
def rotate_secret(state: StateDep, tenant: TenantDep) -> RotatedSecretView:
    """A new signing secret, shown only now; the previous one keeps signing too until its grace period ends."""
    rotated = state.webhook_secrets.rotate(tenant)
    state.tenant_cache.forget_webhooks(tenant)
    until = rotated.previous_valid_until
    return RotatedSecretView(
        secret=rotated.secret,
        created_at=datetime.fromtimestamp(rotated.created_at, UTC),
        previous_valid_until=datetime.fromtimestamp(until, UTC) if until is not None else None,
    )


@router.get("/dead-letters", response_model=DeliveryList, responses=problems_for(401, 422, 503))
def list_dead_letters(state: StateDep, tenant: TenantDep) -> DeliveryList:
    """Deliveries whose retries ran out."""
    found = [state.outbox.get(job_id, seq) for job_id, seq in state.outbox.dead_letters(tenant)]
    return DeliveryList(deliveries=[delivery_view(d) for d in found if d is not None])


@router.post("/dead-letters/replay", response_model=ReplayView, responses=problems_for(401, 422, 503))
def replay_dead_letters(state: StateDep, tenant: TenantDep) -> ReplayView:
    """Send every dead letter again, from the start of the retry schedule, with their original webhook-ids."""
    return ReplayView(replayed=state.outbox.replay_dead_letters(tenant))
