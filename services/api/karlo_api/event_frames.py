"""The wire form of a server-sent event: ``id:``, ``event:`` and one ``data:`` line of JSON."""

from __future__ import annotations

from collections.abc import Callable

from pydantic import BaseModel, Field

from karlo_api.deps import ApiState
from karlo_core.batch_views import batch_view
from karlo_core.event_stream import StreamEvent
from karlo_core.views import job_view


class ProgressEvent(BaseModel):
    """The data of a ``job.progress`` event: a running job's denoising steps on a local backend (karlo-open)."""

    job_id: str = Field(description="The job")
    kind: str = Field(description="generate, variation, inpaint or extend")
    batch_id: str | None = Field(description="The batch it was submitted in, if any")
    step: int = Field(description="Denoising steps done, over all stages")
    total: int = Field(description="Denoising steps the job takes in all")
    stage: str = Field(description="The stage of the last step: prior, decoder or super_res")


def frame(event: str, data: str, event_id: str | None) -> str:
    head = f"id: {event_id}\n" if event_id else ""
    return f"{head}event: {event}\ndata: {data}\n\n"


def event_renderer(state: ApiState) -> Callable[[StreamEvent], str]:
    """Renders an event with the body its webhook delivery carries: the job as at the event, with fresh image
    links (for ``batch.completed``, the batch as it finished; for ``job.progress``, the job's steps)."""
    settings = state.settings
    base_url = settings.public_base_url.rstrip("/")

    def render(event: StreamEvent) -> str:
        if event.progress is not None:
            progress = event.progress
            data = ProgressEvent(
                job_id=event.job_id,
                kind=event.kind,
                batch_id=event.batch_id,
                step=progress.step,
                total=progress.total,
                stage=progress.stage,
            ).model_dump_json()
        elif event.batch is not None:
            data = batch_view(event.batch, None, base_url=base_url).model_dump_json()
        elif event.job is not None:
            view = job_view(event.job, storage=state.storage, base_url=base_url, url_ttl=settings.image_url_ttl_seconds)
            data = view.model_dump_json()
        else:
            data = "{}"
        return frame(event.event, data, event.id)

    return render
