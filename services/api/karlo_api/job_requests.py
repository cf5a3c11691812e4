"""``POST /v1/jobs`` bodies: JSON or multipart, turned into checked parameters and input images.

Everything a job needs is proven here, before anything is stored: Karlo's parameter rules, English
prompts, and each input image (decodes, allowed format, at most 2 MB, mask the size of the image).
"""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

from fastapi import Request
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError
from starlette.datastructures import FormData, UploadFile
from starlette.exceptions import HTTPException

from karlo_api.backend_gate import BackendGate
from karlo_api.input_fetch import Fetched
from karlo_api.problems import JSON_INVALID, Problem, invalid_input, unsupported_media_type, validation_problem
from karlo_api.webhook_urls import webhook_url_issues
from karlo_core.backends.catalogue import KARLO, BackendName
from karlo_core.image_inputs import InputImage, InvalidImage, decode_base64, validate_image
from karlo_core.job_inputs import (
    IMAGE_FIELDS,
    IMAGES_BY_KIND,
    PARAMS_BY_KIND,
    ExtendRequest,
    GenerateParams,
    InpaintRequest,
    OutputOptions,
    VariationRequest,
)
from karlo_core.jobs import ExtendedCanvas, JobKind
from karlo_core.karlo import rules
from karlo_core.outpaint import build_canvas
from karlo_core.prompts import describe_characters, non_english_characters
from karlo_core.webhooks.events import WebhookOption
from karlo_core.webhooks.guards import WebhookGuards

TOO_DEEP = "is nested too deeply to be a job request"
NON_SQUARE_NOTICE = "The {what} is {w}x{h}; Karlo resizes images that are not square to 1:1, which may distort it."


class _Job(BaseModel):
    model_config = ConfigDict(extra="forbid")

    backend: BackendName | None = Field(
        default=None,
        description="The generation backend: karlo (hosted) or karlo-open (open Karlo on the service's own GPUs); "
        "the operator's default when left out. See GET /v1/backends for what each takes",
    )
    webhook: WebhookOption | None = Field(
        default=None, description="Where to send this job's events (default: the tenant's default webhook URL)"
    )
    priority: Literal["high", "normal", "low"] = Field(
        default="normal",
        description="Order within the tenant's own jobs: a high job goes ahead of normal ones accepted up to "
        "an hour before it; a low one is passed only by normal ones accepted up to the aging bound (2 minutes) "
        "after it. At most the plan's max_priority (else 422, rule plan_max_priority)",
    )


KIND_DESCRIPTION = "generate (text to image, the default), variation, inpaint or extend"


class GenerateJob(_Job):
    kind: Literal["generate"] = Field(default="generate", description=KIND_DESCRIPTION)
    input: GenerateParams


class VariationJob(_Job):
    kind: Literal["variation"] = Field(description=KIND_DESCRIPTION)
    input: VariationRequest


class InpaintJob(_Job):
    kind: Literal["inpaint"] = Field(description=KIND_DESCRIPTION)
    input: InpaintRequest


class ExtendJob(_Job):
    kind: Literal["extend"] = Field(description=KIND_DESCRIPTION)
    input: ExtendRequest


AnyJob = GenerateJob | VariationJob | InpaintJob | ExtendJob
CreateJobRequest = Annotated[AnyJob, Field(discriminator="kind")]
CREATE_JOB_ADAPTER: TypeAdapter[AnyJob] = TypeAdapter(CreateJobRequest)


@dataclass
class ParsedJob:
    kind: JobKind
    #: The kind's checked parameters, without the image sources.
    params: OutputOptions
    images: dict[str, InputImage]
    notices: list[str] = field(default_factory=list)
    webhook: WebhookOption | None = None
    backend: str = KARLO
    #: An extension's canvas (its ``images`` are then the canvas, its mask and the original).
    canvas: ExtendedCanvas | None = None
    priority: str = "normal"


def _issue(name: str, rule: str, message: str) -> dict[str, str]:
    return {"field": f"input.{name}", "rule": rule, "message": message}


#: The fields checked to be English.
PROMPT_FIELDS = ("prompt", "negative_prompt")
#: The bodies ``POST /v1/jobs`` reads; any other ``Content-Type`` is a 415 and nothing is stored.
JOB_MEDIA_TYPES = ("application/json", "multipart/form-data")
#: Multipart parts, each at most once.
MULTIPART_PARTS = ("kind", "input", "image", "mask", "webhook", "backend", "priority")


async def read_job_request(request: Request) -> dict[str, Any]:
    """The request as one dict; multipart file parts ``image`` and ``mask`` become base64 inputs."""
    media_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media_type == "multipart/form-data":
        return await _read_multipart(request)
    if media_type != "application/json":
        raise unsupported_media_type(media_type, JOB_MEDIA_TYPES)
    try:
        raw = await request.json()
    except ValueError as exc:
        raise invalid_input([JSON_INVALID]) from exc
    except RecursionError as exc:
        raise invalid_input([{"field": "body", "rule": "json_depth", "message": TOO_DEEP}]) from exc
    if not isinstance(raw, dict):
        raise invalid_input([{"field": "body", "rule": "object_type", "message": "must be a JSON object"}])
    return raw


async def _read_multipart(request: Request) -> dict[str, Any]:
    try:
        form = await request.form(max_files=2, max_fields=4)
    except HTTPException as exc:  # Starlette's answer to a malformed or oversized form
        raise invalid_input([{"field": "body", "rule": "multipart", "message": str(exc.detail)}]) from exc
    _check_parts([name for name, _ in form.multi_items()])
    raw_input = form.get("input")
    try:
        values = json.loads(raw_input) if isinstance(raw_input, str) else None
    except (ValueError, RecursionError):
        values = None
    if not isinstance(values, dict):
        raise invalid_input([{"field": "input", "rule": "json_invalid", "message": "must be a JSON object"}])
    both = [
        name
        for name in ("image", "mask")
        if name in form and (values.get(name) is not None or values.get(f"{name}_url") is not None)
    ]
    if both:
        raise invalid_input([_both_part_and_field(name, values) for name in both])
    for name in ("image", "mask"):
        part = form.get(name)
        if isinstance(part, UploadFile):
            values[name] = base64.b64encode(await part.read()).decode("ascii")
        elif part is not None:
            raise invalid_input([{"field": name, "rule": "file_part", "message": "must be a file part"}])
    raw: dict[str, Any] = {"kind": form.get("kind") or "generate", "input": values, **_backend_part(form)}
    webhook = form.get("webhook")
    if isinstance(webhook, str):
        try:
            raw["webhook"] = json.loads(webhook)
        except (ValueError, RecursionError):
            raise invalid_input([{"field": "webhook", "rule": "json_invalid", "message": "must be JSON"}]) from None
    return raw


def _backend_part(form: FormData) -> dict[str, str]:
    """The text parts ``backend`` and ``priority``, as given."""
    return {name: value for name in ("backend", "priority") if isinstance(value := form.get(name), str)}


def _check_parts(names: list[str]) -> None:
    """Only the known parts, each at most once, and ``input`` always (it is required, as documented)."""
    known = ", ".join(MULTIPART_PARTS)
    issues = [
        {"field": name, "rule": "extra_forbidden", "message": f"is not a known part (known: {known})"}
        for name in sorted(set(names) - set(MULTIPART_PARTS))
    ]
    issues += [
        {"field": name, "rule": "repeated_part", "message": f"is sent {names.count(name)} times; send it once"}
        for name in MULTIPART_PARTS
        if names.count(name) > 1
    ]
    if "input" not in names:
        issues.append({"field": "input", "rule": "missing", "message": "is a required part: the job's input as JSON"})
    if issues:
        raise invalid_input(issues)


def _both_part_and_field(name: str, values: dict[str, Any]) -> dict[str, str]:
    given = f"input.{name}" if values.get(name) is not None else f"input.{name}_url"
    return {
        "field": name,
        "rule": "image_given_twice",
        "message": f"is sent both as the file part {name!r} and as {given}; send one of them",
    }


class JobRequestParser:
    """Three steps: :meth:`validate` the body, fetch what :meth:`image_urls` names (off the thread pool, see
    ``input_fetch``), then :meth:`parse` the whole, decoding at most ``decode_slots`` requests' images at once
    so concurrent requests cannot add up to more memory than that many can use."""

    def __init__(
        self, *, allow_non_english: bool, webhook_guards: WebhookGuards, decode_slots: int, backends: BackendGate
    ) -> None:
        self.backends = backends
        self._allow_non_english = allow_non_english
        self._webhook_guards = webhook_guards
        self._decode_slots = threading.BoundedSemaphore(decode_slots)

    def validate(self, raw: dict[str, Any]) -> AnyJob:
        """The body checked against the request schema (no image decoded, no URL fetched)."""
        raw, _ = self.backends.admit({"kind": "generate", **raw})
        try:
            return CREATE_JOB_ADAPTER.validate_python(raw)
        except ValidationError as exc:
            raise _problem_from(exc) from exc

    @staticmethod
    def image_urls(job: AnyJob) -> dict[str, str]:
        """Input name -> the URL to fetch it from, for the images this job kind takes by URL."""
        values = job.input.model_dump()
        return {name: values[f"{name}_url"] for name in IMAGES_BY_KIND[job.kind] if values.get(f"{name}_url")}

    def parse(self, job: AnyJob, fetched: Mapping[str, Fetched], *, tenant: str) -> ParsedJob:
        issues = self._language_issues({name: getattr(job.input, name, None) for name in PROMPT_FIELDS})
        if job.webhook is not None:
            guard = self._webhook_guards.for_tenant(tenant)
            issues += webhook_url_issues(guard, job.webhook.url, "webhook.url")
        if not IMAGES_BY_KIND[job.kind]:  # nothing to decode: no slot taken (and no wait on the event loop)
            return self._parse_images(job, fetched, issues)
        with self._decode_slots:
            return self._parse_images(job, fetched, issues)

    def _parse_images(self, job: AnyJob, fetched: Mapping[str, Fetched], issues: list[dict[str, str]]) -> ParsedJob:
        images, image_issues = self._images(job, fetched)
        issues += image_issues
        if issues:
            raise invalid_input(issues)
        kind = JobKind(job.kind)
        params_model = PARAMS_BY_KIND[kind.value]
        if type(job.input) is params_model:  # a kind without input images: its request is its parameters
            params: OutputOptions = job.input
        else:
            params = params_model.model_validate(job.input.model_dump(exclude=set(IMAGE_FIELDS)))
        backend = self.backends.chosen(job.backend)
        parsed = ParsedJob(kind, params, images, webhook=job.webhook, backend=backend.name, priority=job.priority)
        if isinstance(job, ExtendJob):
            self._extend(parsed, job.input)
        else:
            parsed.notices += [
                NON_SQUARE_NOTICE.format(what=f"input {name}", w=i.info.width, h=i.info.height)
                for name, i in images.items()
                if name == "image" and not i.square
            ]
        return parsed

    def _language_issues(self, values: dict[str, Any]) -> list[dict[str, str]]:
        if self._allow_non_english:
            return []
        issues = []
        for name in PROMPT_FIELDS:
            found = non_english_characters(values.get(name) or "")
            if found:
                message = (
                    f"must be in English: Karlo understands English prompts only (found {describe_characters(found)}); "
                    "the operator can set KARLOQ_ALLOW_NON_ENGLISH_PROMPTS=true to pass prompts through"
                )
                issues.append(_issue(name, "english_only", message))
        return issues

    def _images(
        self, job: AnyJob, fetched: Mapping[str, Fetched]
    ) -> tuple[dict[str, InputImage], list[dict[str, str]]]:
        values = job.input.model_dump()
        images: dict[str, InputImage] = {}
        issues: list[dict[str, str]] = []
        for name in IMAGES_BY_KIND[job.kind]:
            try:
                images[name] = self._load(name, values, fetched)
            except InvalidImage as exc:
                where = f"{name}_url" if values.get(f"{name}_url") else name
                issues.append(_issue(where, "image", str(exc)))
        if "image" in images and "mask" in images:
            image, mask = images["image"].info, images["mask"].info
            if (mask.width, mask.height) != (image.width, image.height):
                message = (
                    f"must be the same size as the image ({image.width}x{image.height}), is {mask.width}x{mask.height}"
                )
                issues.append(_issue("mask", "mask_size", message))
        return images, issues

    @staticmethod
    def _load(name: str, values: dict[str, Any], fetched: Mapping[str, Fetched]) -> InputImage:
        if values.get(name) is not None:
            return validate_image(decode_base64(values[name]))
        if values.get(f"{name}_url") is not None:
            data = fetched.get(name, InvalidImage("was not fetched"))
            if isinstance(data, InvalidImage):
                raise data
            return validate_image(data)
        raise InvalidImage(
            f"is required: send it as base64 in input.{name}, as a multipart file part named {name!r}, "
            f"or as an https URL in input.{name}_url"
        )

    def _extend(self, parsed: ParsedJob, request: ExtendRequest) -> None:
        original = parsed.images["image"]
        margins = request.extend
        width = original.info.width + margins.left + margins.right
        height = original.info.height + margins.top + margins.bottom
        if max(width, height) > rules.MAX_SIDE:
            message = f"makes a {width}x{height} canvas; at most {rules.MAX_SIDE} pixels per side"
            raise invalid_input([_issue("extend", "canvas_size", message)])
        canvas = build_canvas(
            original.data, left=margins.left, top=margins.top, right=margins.right, bottom=margins.bottom
        )
        try:
            parsed.images = {
                "original": original,
                "image": validate_image(canvas.image),
                "mask": validate_image(canvas.mask),
            }
        except InvalidImage as exc:
            raise invalid_input([_issue("extend", "canvas_size", f"makes a canvas that {exc}")]) from exc
        parsed.canvas = ExtendedCanvas(width, height, canvas.placement)
        if width != height:
            parsed.notices.append(NON_SQUARE_NOTICE.format(what="extended canvas", w=width, h=height))


def _problem_from(exc: ValidationError) -> Problem:
    """Pydantic errors of the tagged union carry the tag first in their location; drop it."""
    errors = []
    for error in exc.errors():
        loc = tuple(error.get("loc", ()))
        if loc and loc[0] in IMAGES_BY_KIND:
            loc = loc[1:]
        if error.get("type") in ("union_tag_invalid", "union_tag_not_found"):
            loc = ("kind",)
        errors.append({**error, "loc": loc})
    return validation_problem(errors)
