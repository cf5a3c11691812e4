"""The wire form of a server-sent event: ``id:``, ``event:`` and one ``data:`` line of JSON."""

from __future__ import annotations

from collections.abc import Callable

from karlo_api.deps import ApiState
from karlo_core.batch_views import batch_view
from karlo_core.event_stream import StreamEvent
from karlo_core.views import job_view


def frame(event: str, data: str, event_id: str | None) -> str:
    head = f"id: {event_id}\n" if event_id else ""
    return f"{head}event: {event}\ndata: {data}\n\n"


def event_renderer(state: ApiState) -> Callable[[StreamEvent], str]:
    """Renders an event with the body its webhook delivery carries: the job as at the event, with fresh image
    links (for ``batch.completed``, the batch as it finished)."""
    settings = state.settings
    base_url = settings.public_base_url.rstrip("/")

    def render(event: StreamEvent) -> str:
        if event.batch is not None:
            data = batch_view(event.batch, None, base_url=base_url).model_dump_json()
        elif event.job is not None:
            view = job_view(event.job, storage=state.storage, base_url=base_url, url_ttl=settings.image_url_ttl_seconds)
            data = view.model_dump_json()
        else:
            data = "{}"
        return frame(event.event, data, event.id)

    return render
