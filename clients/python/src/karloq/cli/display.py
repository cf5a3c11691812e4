"""What the command line shows people: a live status line while a job runs, a download bar, tables.

Everything for people goes to stderr (stdout carries results: file paths, or JSON with ``--json``); on a
terminal only, so logs and pipes stay clean.
"""

from __future__ import annotations

from datetime import UTC, datetime
from types import TracebackType

from rich.console import Console, Group
from rich.live import Live
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TransferSpeedColumn
from rich.spinner import Spinner
from rich.table import Table
from rich.text import Text

from karloq.models import Batch, Delivery, Job, JobStatus, Quota, WebhookSettings

STATUS_STYLES: dict[str, str] = {
    JobStatus.QUEUED: "cyan",
    JobStatus.WAITING_FOR_QUOTA: "yellow",
    JobStatus.RUNNING: "blue",
    JobStatus.SUCCEEDED: "green",
    JobStatus.FAILED: "red",
    JobStatus.CANCELED: "magenta",
}


def describe(job: Job, *, now: datetime | None = None) -> str:
    """One line saying where the job stands: ``waiting for quota, starts about 12:03:10 (in 42 s)``."""
    if job.status == JobStatus.WAITING_FOR_QUOTA:
        if job.estimated_start_at is None:
            return "waiting for quota"
        eta = job.estimated_start_at
        seconds = max((eta - (now or datetime.now(UTC))).total_seconds(), 0)
        return f"waiting for quota, starts about {eta.astimezone():%H:%M:%S} (in {seconds:.0f} s)"
    if job.status == JobStatus.RUNNING:
        return "running" + (", cancel requested" if job.cancel_requested else "")
    if job.status == JobStatus.SUCCEEDED:
        return f"done: {len(job.images)} image{'s' if len(job.images) != 1 else ''}"
    if job.status == JobStatus.FAILED and job.error is not None:
        return f"failed: {job.error.code}: {job.error.message}"
    return job.status.replace("_", " ")


class JobDisplay:
    """The live line of one job (spinner, status, id) and, once it succeeded, a bar for its download."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self._spinner = Spinner("dots", text="submitting")
        self._progress = Progress(
            TextColumn("downloading"), BarColumn(), DownloadColumn(), TransferSpeedColumn(), console=console
        )
        self._task: int | None = None
        self._live = Live(Group(self._spinner), console=console, refresh_per_second=10, transient=False)
        self._active = console.is_terminal

    def __enter__(self) -> JobDisplay:
        if self._active:
            self._live.__enter__()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        if self._active:
            self._live.__exit__(exc_type, exc, traceback)

    def job(self, job: Job) -> None:
        """Show the job as just read (the SDK's ``on_progress``)."""
        style = STATUS_STYLES.get(job.status, "")
        self._spinner.update(text=Text.assemble((describe(job), style), (f"  job {job.id}", "dim")))
        if job.status == JobStatus.SUCCEEDED and job.images and self._task is None:
            self._task = self._progress.add_task("download", total=sum(image.bytes for image in job.images))
            self._live.update(Group(self._spinner, self._progress))

    def downloaded(self, size: int) -> None:
        """Advance the download bar (the SDK's ``on_bytes``)."""
        if self._task is not None:
            self._progress.advance(self._task, size)  # type: ignore[arg-type]


def jobs_table(jobs: list[Job]) -> Table:
    table = Table("id", "kind", "status", "created", "images", box=None, pad_edge=False)
    for job in jobs:
        style = STATUS_STYLES.get(job.status, "")
        table.add_row(
            job.id, job.kind, Text(job.status, style), f"{job.created_at.astimezone():%Y-%m-%d %H:%M:%S}",
            str(len(job.images)),
        )  # fmt: skip
    return table


def job_table(job: Job) -> Table:
    table = Table(show_header=False, box=None, pad_edge=False)
    table.add_row("id", job.id)
    table.add_row("kind", job.kind)
    table.add_row("status", Text(describe(job), STATUS_STYLES.get(job.status, "")))
    table.add_row("created", f"{job.created_at.astimezone():%Y-%m-%d %H:%M:%S}")
    if job.completed_at is not None:
        table.add_row("completed", f"{job.completed_at.astimezone():%Y-%m-%d %H:%M:%S}")
    for notice in job.notices:
        table.add_row("notice", notice)
    for index, image in enumerate(job.images):
        table.add_row(f"image {index}", f"{image.width}x{image.height} {image.format}, {image.bytes} bytes")
    if job.webhook is not None:
        table.add_row("webhook", job.webhook.url)
    return table


def batch_table(batch: Batch) -> Table:
    table = Table(show_header=False, box=None, pad_edge=False)
    table.add_row("id", batch.id)
    table.add_row("status", f"{batch.status.replace('_', ' ')}: {batch.finished} of {batch.total} finished")
    table.add_row("jobs", ", ".join(f"{count} {status}" for status, count in batch.counts.items() if count))
    table.add_row("created", f"{batch.created_at.astimezone():%Y-%m-%d %H:%M:%S}")
    if batch.completed_at is not None:
        table.add_row("completed", f"{batch.completed_at.astimezone():%Y-%m-%d %H:%M:%S}")
    return table


def quota_table(quota: Quota) -> Table:
    table = Table("scope", "window", "used", "limit", "remaining", "resets", box=None, pad_edge=False)
    for scope in quota.scopes:
        for window in scope.windows:
            table.add_row(
                scope.scope, window.window, str(window.used), str(window.limit), str(window.remaining),
                f"{window.resets_at.astimezone():%Y-%m-%d %H:%M:%S}",
            )  # fmt: skip
    return table


def deliveries_table(deliveries: list[Delivery]) -> Table:
    table = Table("id", "event", "status", "attempts", "url", box=None, pad_edge=False)
    for delivery in deliveries:
        table.add_row(delivery.id, delivery.event, delivery.status, str(len(delivery.attempts)), delivery.url)
    return table


def webhook_table(settings: WebhookSettings) -> Table:
    table = Table(show_header=False, box=None, pad_edge=False)
    table.add_row("default url", settings.default_url or "(none)")
    secret = settings.secret
    created = f"since {secret.created_at.astimezone():%Y-%m-%d %H:%M:%S}" if secret.created_at else ""
    table.add_row("signing secret", f"set {created}".strip() if secret.exists else "(none: karloq webhooks rotate)")
    if secret.previous_valid_until is not None:
        table.add_row("previous secret", f"signs too until {secret.previous_valid_until.astimezone():%H:%M:%S}")
    for endpoint in settings.disabled_endpoints:
        table.add_row("disabled (410)", endpoint.url)
    return table
