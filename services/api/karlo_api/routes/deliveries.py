"""``/v1/jobs/{id}/deliveries``: a job's webhook deliveries, and sending one again."""

from __future__ import annotations

from fastapi import APIRouter, status

from karlo_api.deps import OwnJobDep, StateDep, TenantDep
from karlo_api.problems import Problem, problems_for
from karlo_api.webhook_views import DeliveryList, DeliveryView, delivery_view
from karlo_core.webhooks.outbox import parse_delivery_id

router = APIRouter(prefix="/v1/jobs", tags=["deliveries"])


@router.get("/{job_id}/deliveries", response_model=DeliveryList, responses=problems_for(401, 404, 422, 503))
def list_deliveries(job: OwnJobDep, state: StateDep) -> DeliveryList:
    """Every webhook event of the job: attempts with status codes, latency and errors, and the next try."""
    return DeliveryList(deliveries=[delivery_view(d) for d in state.outbox.deliveries(job.id)])


@router.post(
    "/{job_id}/deliveries/{delivery_id}/retry",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=DeliveryView,
    responses=problems_for(401, 404, 422, 503),
)
def retry_delivery(job: OwnJobDep, delivery_id: str, state: StateDep, tenant: TenantDep) -> DeliveryView:
    """Send a delivery again now, from the start of the retry schedule, with the same webhook-id."""
    job_id = job.id
    parsed = parse_delivery_id(delivery_id)
    if parsed is None or parsed[0] != job_id or state.outbox.requeue(job_id, parsed[1], tenant) == "missing":
        raise Problem(404, "delivery-not-found", "Delivery not found", f"no delivery {delivery_id!r} of this job")
    delivery = state.outbox.get(job_id, parsed[1])
    assert delivery is not None
    return delivery_view(delivery)
