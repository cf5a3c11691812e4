"""The ``karloq`` commands (typer). Errors are not handled here: ``karloq.cli.main`` turns each into one line
and its exit code."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from pydantic import BaseModel, ValidationError
from rich.console import Console, RenderableType
from rich.text import Text

from karloq.cli import display
from karloq.client import Client
from karloq.errors import JobFailedError
from karloq.images import ImageSource, is_url
from karloq.models import (
    BackendName,
    ExtendInput,
    GenerateInput,
    InpaintInput,
    Job,
    JobInput,
    JobStatus,
    Margins,
    Priority,
    Replay,
    VariationInput,
)

T = TypeVar("T")


class BackendChoice(StrEnum):
    """The backends a job may name (``--backend``)."""

    KARLO = "karlo"
    KARLO_OPEN = "karlo-open"


class PriorityChoice(StrEnum):
    """A job's priority within its tenant (``--priority``)."""

    HIGH = "high"
    NORMAL = "normal"
    LOW = "low"


BACKEND_NAMES: dict[BackendChoice, BackendName] = {
    BackendChoice.KARLO: "karlo",
    BackendChoice.KARLO_OPEN: "karlo-open",
}
PRIORITY_NAMES: dict[PriorityChoice, Priority] = {
    PriorityChoice.HIGH: "high",
    PriorityChoice.NORMAL: "normal",
    PriorityChoice.LOW: "low",
}

EPILOG = (
    "Exit codes: 0 done; 1 the job failed or was canceled; 2 bad command line; 3 the API refused the request; "
    "4 the service could not be reached; 5 the wait timed out. "
    "--json, --api-url and --api-key may also be given after the command."
)

app = typer.Typer(
    name="karloq",
    help="Generate images with karlo-queue and manage jobs, quota and webhooks.",
    epilog=EPILOG,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
jobs_app = typer.Typer(help="List, show, cancel and wait for jobs; their webhook deliveries.", no_args_is_help=True)
webhooks_app = typer.Typer(help="Default receiver, signing secret, dead letters.", no_args_is_help=True)
batch_app = typer.Typer(help="Submit many jobs at once (JSON Lines), follow and cancel them.", no_args_is_help=True)
app.add_typer(jobs_app, name="jobs")
app.add_typer(webhooks_app, name="webhooks")
app.add_typer(batch_app, name="batch")

#: Seconds the create call itself waits (``Prefer: wait``): fast jobs finish in one round trip, slower ones
#: are polled so the status line stays live.
LIVE_PREFER_WAIT = 2


@dataclass
class Settings:
    """The options of ``karloq`` itself: where the API is, whose key, and whether to print JSON."""

    api_url: str | None
    api_key: str | None
    json: bool

    def client(self) -> Client:
        key = self.api_key or _dev_key()
        if not key:
            raise typer.BadParameter("no API key: set KARLOQ_API_KEY or pass --api-key", param_hint="--api-key")
        return Client(self.api_url, key)


#: Where ``make run`` keeps the key it issued to its "dev" tenant, relative to the checkout.
DEV_KEY_FILE = Path("var/run/dev-api-key")


def _dev_key() -> str | None:
    """In a checkout running ``make run``, with no key given, the local stack's own key."""
    if not DEV_KEY_FILE.is_file():
        return None
    return DEV_KEY_FILE.read_text().strip() or None


def _settings(ctx: typer.Context) -> Settings:
    settings: Settings = ctx.find_root().obj
    return settings


@app.callback()
def root(
    ctx: typer.Context,
    api_url: Annotated[
        str | None, typer.Option(envvar="KARLOQ_API_URL", help="The API (default http://127.0.0.1:8000)")
    ] = None,
    api_key: Annotated[str | None, typer.Option(envvar="KARLOQ_API_KEY", help="kq_... key", show_default=False)] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON on stdout, for scripts")] = False,
) -> None:
    ctx.obj = Settings(api_url, api_key, json_out)


# --- output ---------------------------------------------------------------------------------------------

out_console = Console(soft_wrap=True)
err_console = Console(stderr=True)


def _print_json(value: Any) -> None:
    if isinstance(value, BaseModel):
        value = value.model_dump(mode="json")
    elif isinstance(value, list):
        value = [v.model_dump(mode="json") if isinstance(v, BaseModel) else v for v in value]
    sys.stdout.write(json.dumps(value, indent=2) + "\n")


def _emit(settings: Settings, value: T, render: Callable[[T], RenderableType]) -> None:
    """JSON on stdout with ``--json``; else ``render(value)`` for people."""
    if settings.json:
        _print_json(value)
    else:
        out_console.print(render(value))


# --- generating -----------------------------------------------------------------------------------------

Samples = Annotated[int | None, typer.Option("--samples", "-n", help="Images to make (1-8)")]
Format = Annotated[str | None, typer.Option("--format", help="webp, jpeg or png")]
Seeds = Annotated[list[int] | None, typer.Option("--seed", help="One per sample (repeat the option)")]
Negative = Annotated[str | None, typer.Option("--negative", help="What the images should not show")]
Width = Annotated[int | None, typer.Option(help="Pixels, multiple of 8")]
Height = Annotated[int | None, typer.Option(help="Pixels, multiple of 8")]
Param = Annotated[
    list[str] | None,
    typer.Option("--param", "-p", help="Any other input field: NAME=VALUE, VALUE as JSON (e.g. -p upscale=true)"),
]
Out = Annotated[Path, typer.Option("--out", "-o", help="Directory for the images")]
NoWait = Annotated[bool, typer.Option("--no-wait", help="Print the job and return at once")]
Timeout = Annotated[float, typer.Option(help="Seconds to wait for the job")]
Webhook = Annotated[str | None, typer.Option(help="Send this job's events to this URL")]
BackendOpt = Annotated[
    BackendChoice | None, typer.Option("--backend", help="karlo (hosted, the default) or karlo-open (own GPUs)")
]
PriorityOpt = Annotated[
    PriorityChoice | None, typer.Option("--priority", help="high, normal (the default) or low, up to the plan's")
]
JobIdArg = Annotated[str, typer.Argument(help="The job's id", show_default=False)]
ImageArg = Annotated[str, typer.Argument(help="A file, or an https URL the service fetches", show_default=False)]


@dataclass
class Common:
    """Options every kind shares."""

    samples: int | None
    image_format: str | None
    seeds: list[int] | None
    negative: str | None
    params: list[str] | None
    out: Path
    no_wait: bool
    timeout: float
    webhook: str | None
    backend: BackendChoice | None = None
    priority: PriorityChoice | None = None

    @property
    def backend_name(self) -> BackendName | None:
        return BACKEND_NAMES[self.backend] if self.backend else None

    @property
    def priority_name(self) -> Priority | None:
        return PRIORITY_NAMES[self.priority] if self.priority else None

    def fields(self) -> dict[str, Any]:
        given = {
            "samples": self.samples,
            "image_format": self.image_format,
            "seed": self.seeds or None,
            "negative_prompt": self.negative,
        }
        values = {name: value for name, value in given.items() if value is not None}
        return values | _params(self.params or [])


def _params(pairs: list[str]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for pair in pairs:
        name, sep, raw = pair.partition("=")
        if not sep or not name:
            raise typer.BadParameter(f"{pair!r} is not NAME=VALUE", param_hint="--param")
        try:
            values[name] = json.loads(raw)
        except ValueError:
            values[name] = raw
    return values


def _image(value: str, hint: str) -> ImageSource:
    if is_url(value):
        return value
    path = Path(value)
    if not path.is_file():
        raise typer.BadParameter(f"{value!r} is not a file or an http(s) URL", param_hint=hint)
    return path


def _build(model: type[JobInput], values: dict[str, Any]) -> JobInput:
    """The input model; a field it does not know is a command-line error (the service checks the values)."""
    unknown = sorted(set(values) - set(model.model_fields))
    if unknown:
        raise typer.BadParameter(f"{unknown[0]!r} is not a field of a {model.kind.value} job", param_hint="--param")
    try:
        return model.model_validate(values)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise typer.BadParameter(f"{where}: {first['msg']}") from None


def _submit(
    settings: Settings,
    job_input: JobInput,
    common: Common,
    image: ImageSource | None = None,
    mask: ImageSource | None = None,
) -> None:
    with settings.client() as client:
        if common.no_wait:
            job = client.jobs.create(
                job_input,
                image=image,
                mask=mask,
                webhook=common.webhook,
                backend=common.backend_name,
                priority=common.priority_name,
            )
            _show_job(settings, job)
            return
        with display.JobDisplay(err_console) as live:
            result = client.run(
                job_input,
                out_dir=common.out,
                image=image,
                mask=mask,
                webhook=common.webhook,
                timeout=common.timeout,
                prefer_wait=LIVE_PREFER_WAIT,
                on_progress=live.job,
                on_bytes=live.downloaded,
                backend=common.backend_name,
                priority=common.priority_name,
            )
    if settings.json:
        _print_json({"job": result.job.model_dump(mode="json"), "files": [str(p) for p in result.files]})
    else:
        for path in result.files:
            out_console.print(str(path), highlight=False)


def _show_job(settings: Settings, job: Job) -> None:
    _emit(settings, job, display.job_table)


@app.command()
def generate(
    ctx: typer.Context,
    prompt: Annotated[str, typer.Argument(help="What to draw, in English")],
    samples: Samples = None,
    width: Width = None,
    height: Height = None,
    version: Annotated[str | None, typer.Option(help="v2.1 or v2.0")] = None,
    image_format: Format = None,
    seed: Seeds = None,
    negative: Negative = None,
    param: Param = None,
    out: Out = Path("."),
    no_wait: NoWait = False,
    timeout: Timeout = 600.0,
    webhook: Webhook = None,
    backend: BackendOpt = None,
    priority: PriorityOpt = None,
) -> None:
    """Text to image: make images and save them in --out."""
    common = Common(samples, image_format, seed, negative, param, out, no_wait, timeout, webhook, backend, priority)
    sized = {k: v for k, v in {"width": width, "height": height, "version": version}.items() if v is not None}
    job_input = _build(GenerateInput, {"prompt": prompt, **sized, **common.fields()})
    _submit(_settings(ctx), job_input, common)


@app.command()
def variation(
    ctx: typer.Context,
    image: ImageArg,
    prompt: Annotated[str | None, typer.Option(help="Optional guidance, in English")] = None,
    samples: Samples = None,
    width: Width = None,
    height: Height = None,
    image_format: Format = None,
    seed: Seeds = None,
    negative: Negative = None,
    param: Param = None,
    out: Out = Path("."),
    no_wait: NoWait = False,
    timeout: Timeout = 600.0,
    webhook: Webhook = None,
    backend: BackendOpt = None,
    priority: PriorityOpt = None,
) -> None:
    """New images in the manner of IMAGE."""
    common = Common(samples, image_format, seed, negative, param, out, no_wait, timeout, webhook, backend, priority)
    given = {"prompt": prompt, "width": width, "height": height}
    job_input = _build(VariationInput, {k: v for k, v in given.items() if v is not None} | common.fields())
    _submit(_settings(ctx), job_input, common, image=_image(image, "IMAGE"))


@app.command()
def inpaint(
    ctx: typer.Context,
    image: ImageArg,
    prompt: Annotated[str, typer.Argument(help="What to paint in the masked area, in English")],
    mask: Annotated[str, typer.Option(help="Same size as IMAGE; black marks the area to repaint")],
    samples: Samples = None,
    image_format: Format = None,
    seed: Seeds = None,
    negative: Negative = None,
    param: Param = None,
    out: Out = Path("."),
    no_wait: NoWait = False,
    timeout: Timeout = 600.0,
    webhook: Webhook = None,
    backend: BackendOpt = None,
    priority: PriorityOpt = None,
) -> None:
    """Repaint the black area of --mask in IMAGE."""
    common = Common(samples, image_format, seed, negative, param, out, no_wait, timeout, webhook, backend, priority)
    job_input = _build(InpaintInput, {"prompt": prompt} | common.fields())
    _submit(_settings(ctx), job_input, common, image=_image(image, "IMAGE"), mask=_image(mask, "--mask"))


@app.command()
def extend(
    ctx: typer.Context,
    image: ImageArg,
    prompt: Annotated[str, typer.Argument(help="What the new area shows, in English")],
    top: Annotated[int, typer.Option(help="Pixels added at the top")] = 0,
    bottom: Annotated[int, typer.Option(help="Pixels added at the bottom")] = 0,
    left: Annotated[int, typer.Option(help="Pixels added on the left")] = 0,
    right: Annotated[int, typer.Option(help="Pixels added on the right")] = 0,
    samples: Samples = None,
    image_format: Format = None,
    seed: Seeds = None,
    negative: Negative = None,
    param: Param = None,
    out: Out = Path("."),
    no_wait: NoWait = False,
    timeout: Timeout = 600.0,
    webhook: Webhook = None,
    backend: BackendOpt = None,
    priority: PriorityOpt = None,
) -> None:
    """Grow IMAGE by --top/--bottom/--left/--right pixels and fill the new area."""
    common = Common(samples, image_format, seed, negative, param, out, no_wait, timeout, webhook, backend, priority)
    margins = Margins(top=top, bottom=bottom, left=left, right=right)
    job_input = _build(ExtendInput, {"prompt": prompt, "extend": margins} | common.fields())
    _submit(_settings(ctx), job_input, common, image=_image(image, "IMAGE"))


# --- jobs -----------------------------------------------------------------------------------------------


@jobs_app.command("list")
def jobs_list(
    ctx: typer.Context,
    status: Annotated[list[str] | None, typer.Option(help="Only this status (repeat for several)")] = None,
    kind: Annotated[list[str] | None, typer.Option(help="Only this kind (repeat for several)")] = None,
    limit: Annotated[int, typer.Option(help="Show at most this many jobs")] = 20,
    show_all: Annotated[bool, typer.Option("--all", help="Every job, page after page")] = False,
) -> None:
    """The newest jobs first."""
    settings = _settings(ctx)
    found: list[Job] = []
    with settings.client() as client:
        for job in client.jobs.list(status=status, kind=kind, limit=min(max(limit, 1), 100)):
            found.append(job)
            if not show_all and len(found) >= limit:
                break
    _emit(settings, found, display.jobs_table)


@jobs_app.command("get")
def jobs_get(ctx: typer.Context, job_id: JobIdArg) -> None:
    """One job as it stands now."""
    settings = _settings(ctx)
    with settings.client() as client:
        _show_job(settings, client.jobs.get(job_id))


@jobs_app.command("cancel")
def jobs_cancel(ctx: typer.Context, job_id: JobIdArg) -> None:
    """Cancel a job (a running one ends canceled once Karlo answers)."""
    settings = _settings(ctx)
    with settings.client() as client:
        _show_job(settings, client.jobs.cancel(job_id))


@jobs_app.command("wait")
def jobs_wait(
    ctx: typer.Context,
    job_id: JobIdArg,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Save the images here once it succeeded")] = None,
    timeout: Timeout = 600.0,
) -> None:
    """Follow a job's events until it finishes (exit 1 if it failed or was canceled); --out saves its images."""
    settings = _settings(ctx)
    files: list[Path] = []
    with settings.client() as client, display.JobDisplay(err_console) as live:
        job = client.jobs.follow(job_id, timeout=timeout, on_progress=live.job)  # the job's event stream
        if job.status == JobStatus.SUCCEEDED and out is not None:
            files = client.jobs.download(job, out, on_bytes=live.downloaded)
    if settings.json:
        _print_json({"job": job.model_dump(mode="json"), "files": [str(p) for p in files]})
    else:
        for path in files:
            out_console.print(str(path), highlight=False)
    if job.status != JobStatus.SUCCEEDED:
        raise JobFailedError(job)


@jobs_app.command("deliveries")
def jobs_deliveries(ctx: typer.Context, job_id: JobIdArg) -> None:
    """The job's webhook events and their attempts."""
    settings = _settings(ctx)
    with settings.client() as client:
        found = client.jobs.deliveries(job_id)
    _emit(settings, found, display.deliveries_table)


@jobs_app.command("redeliver")
def jobs_redeliver(
    ctx: typer.Context,
    job_id: JobIdArg,
    delivery_id: Annotated[str, typer.Argument(help="The delivery's id (its webhook-id)")],
) -> None:
    """Send one webhook delivery again now."""
    settings = _settings(ctx)
    with settings.client() as client:
        delivery = client.jobs.retry_delivery(job_id, delivery_id)
    _emit(settings, [delivery], display.deliveries_table)


# --- quota and webhooks ---------------------------------------------------------------------------------


@app.command()
def quota(ctx: typer.Context) -> None:
    """Quota windows: images used, allowed and left, and when each resets."""
    settings = _settings(ctx)
    with settings.client() as client:
        found = client.quota()
    _emit(settings, found, display.quota_table)


@webhooks_app.command("show")
def webhooks_show(ctx: typer.Context) -> None:
    """Default receiver, secret dates and endpoints disabled by 410 Gone."""
    settings = _settings(ctx)
    with settings.client() as client:
        found = client.webhooks.settings()
    _emit(settings, found, display.webhook_table)


@webhooks_app.command("set-url")
def webhooks_set_url(
    ctx: typer.Context,
    url: Annotated[str | None, typer.Argument(help="The receiver; leave out to clear it")] = None,
) -> None:
    """Set (or clear) the receiver of jobs created without their own webhook."""
    settings = _settings(ctx)
    with settings.client() as client:
        found = client.webhooks.set_default_url(url)
    _emit(settings, found, display.webhook_table)


@webhooks_app.command("rotate-secret")
def webhooks_rotate_secret(ctx: typer.Context) -> None:
    """Make a new signing secret and print it (shown only now); the previous one signs too for a while."""
    settings = _settings(ctx)
    with settings.client() as client:
        rotated = client.webhooks.rotate_secret()
    _emit(settings, rotated, lambda found: Text(found.secret))


@webhooks_app.command("enable")
def webhooks_enable(ctx: typer.Context, url: Annotated[str, typer.Argument(help="The disabled receiver")]) -> None:
    """Send to an endpoint again after it answered 410 Gone."""
    with _settings(ctx).client() as client:
        client.webhooks.enable_endpoint(url)


@webhooks_app.command("dead-letters")
def webhooks_dead_letters(ctx: typer.Context) -> None:
    """Deliveries whose retries ran out."""
    settings = _settings(ctx)
    with settings.client() as client:
        found = client.webhooks.dead_letters()
    _emit(settings, found, display.deliveries_table)


@webhooks_app.command("replay")
def webhooks_replay(ctx: typer.Context) -> None:
    """Send every dead letter again."""
    settings = _settings(ctx)
    with settings.client() as client:
        replayed = client.webhooks.replay_dead_letters()
    _emit(settings, Replay(replayed=replayed), lambda found: Text(f"replayed {found.replayed}"))


# --- batches --------------------------------------------------------------------------------------------

BatchIdArg = Annotated[str, typer.Argument(help="The batch's id", show_default=False)]


@batch_app.command("submit")
def batch_submit(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="JSON Lines: one create-job body a line", show_default=False)],
    wait: Annotated[bool, typer.Option("--wait", help="Return once every job has finished")] = False,
    timeout: Timeout = 3600.0,
) -> None:
    """Submit every job of a JSON Lines file in one request (all or none) and print the batch."""
    settings = _settings(ctx)
    try:
        lines = file.read_bytes()
    except OSError as exc:
        raise typer.BadParameter(f"cannot read {file}: {exc.strerror}", param_hint="FILE") from None
    with settings.client() as client:
        batch = client.batches.create_from_lines(lines)
        if wait:
            batch = client.batches.wait(batch, timeout=timeout)
    _emit(settings, batch, display.batch_table)


@batch_app.command("get")
def batch_get(ctx: typer.Context, batch_id: BatchIdArg) -> None:
    """The batch's jobs counted by status, and its progress."""
    settings = _settings(ctx)
    with settings.client() as client:
        _emit(settings, client.batches.get(batch_id), display.batch_table)


@batch_app.command("cancel")
def batch_cancel(ctx: typer.Context, batch_id: BatchIdArg) -> None:
    """Cancel every job of the batch that has not finished."""
    settings = _settings(ctx)
    with settings.client() as client:
        _emit(settings, client.batches.cancel(batch_id), display.batch_table)
