"""The SDK cannot drift from the API: its models and calls are compared with the OpenAPI document served.

Two tables say what stands for what: ``SCHEMAS`` (each component schema -> the karloq type that mirrors it)
and ``OPERATIONS`` (each path and method -> the SDK call that makes it, or why there is none). A schema, path
or field the API serves that the tables or the SDK lack fails the test, named, with what to add.

Compared: every property (name, type, nullability, enum/const, default, array items, nested models,
``additionalProperties``) and which are required. Not compared: descriptions, examples and value ranges
(lengths, minimum/maximum, patterns), which the service alone checks and reports as 422 field errors.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, get_type_hints

import httpx
import pytest
from pydantic import TypeAdapter

from karloq import AsyncClient, Client, _ops, models
from support.stacks import AppStack

#: OpenAPI component schema -> the karloq type that mirrors it.
SCHEMAS: dict[str, Any] = {
    "JobView": models.Job,
    "ImageView": models.Image,
    "OutputView": models.Output,
    "ErrorView": models.JobError,
    "WebhookView": models.JobWebhook,
    "JobUrls": models.JobUrls,
    "JobPage": models.JobPage,
    "JobKind": models.JobKind,
    "JobStatus": models.JobStatus,
    "QuotaView": models.Quota,
    "ScopeView": models.QuotaScope,
    "WindowView": models.QuotaWindow,
    "PlanView": models.Plan,
    "BacklogView": models.Backlog,
    "QueuePositionView": models.QueuePosition,
    "AttemptView": models.DeliveryAttempt,
    "DeliveryView": models.Delivery,
    "DeliveryList": models.DeliveryList,
    "SecretInfoView": models.SecretInfo,
    "RotatedSecretView": models.RotatedSecret,
    "DisabledEndpointView": models.DisabledEndpoint,
    "WebhookSettingsView": models.WebhookSettings,
    "DefaultUrlRequest": models.DefaultUrlRequest,
    "ReplayView": models.Replay,
    "CreateJobRequest": models.CreateJobRequest,
    "GenerateJob": models.GenerateJob,
    "VariationJob": models.VariationJob,
    "InpaintJob": models.InpaintJob,
    "ExtendJob": models.ExtendJob,
    "GenerateParams": models.GenerateInput,
    "VariationRequest": models.VariationInput,
    "InpaintRequest": models.InpaintInput,
    "ExtendRequest": models.ExtendInput,
    "Margins": models.Margins,
    "FaceRefiner": models.FaceRefiner,
    "WebhookOption": models.WebhookOption,
    "ProblemDocument": models.ProblemDocument,
    "ProblemItem": models.FieldError,
    "ProgressView": models.Progress,
    "BackendView": models.Backend,
    "BackendList": models.BackendList,
    "BackendLimits": models.BackendLimits,
    "Capacity": models.Capacity,
    "BatchView": models.Batch,
    "BatchUrls": models.BatchUrls,
    "ResetEvent": models.ResetEvent,
    "ProgressEvent": models.ProgressEvent,
}


@dataclass(frozen=True)
class SdkCall:
    """The SDK method (``jobs.create``: ``client.jobs.create``) making an operation, and the type its JSON
    answer is read into (a model, ``list[Model]``, or None: no JSON body)."""

    method: str
    answer: Any


@dataclass(frozen=True)
class NotInSdk:
    why: str


#: (HTTP method, path) -> how the SDK makes the call.
OPERATIONS: dict[tuple[str, str], SdkCall | NotInSdk] = {
    ("post", "/v1/jobs"): SdkCall("jobs.create", models.Job),
    ("get", "/v1/jobs"): SdkCall("jobs.page", models.JobPage),
    ("get", "/v1/jobs/{job_id}"): SdkCall("jobs.get", models.Job),
    ("post", "/v1/jobs/{job_id}/cancel"): SdkCall("jobs.cancel", models.Job),
    ("get", "/v1/jobs/{job_id}/deliveries"): SdkCall("jobs.deliveries", models.DeliveryList),
    ("post", "/v1/jobs/{job_id}/deliveries/{delivery_id}/retry"): SdkCall("jobs.retry_delivery", models.Delivery),
    ("get", "/v1/webhooks"): SdkCall("webhooks.settings", models.WebhookSettings),
    ("put", "/v1/webhooks/default"): SdkCall("webhooks.set_default_url", models.WebhookSettings),
    ("delete", "/v1/webhooks/disabled-endpoints"): SdkCall("webhooks.enable_endpoint", None),
    ("get", "/v1/webhooks/secret"): SdkCall("webhooks.secret", models.SecretInfo),
    ("post", "/v1/webhooks/secret/rotate"): SdkCall("webhooks.rotate_secret", models.RotatedSecret),
    ("get", "/v1/webhooks/dead-letters"): SdkCall("webhooks.dead_letters", models.DeliveryList),
    ("post", "/v1/webhooks/dead-letters/replay"): SdkCall("webhooks.replay_dead_letters", models.Replay),
    ("get", "/v1/quota"): SdkCall("quota", models.Quota),
    ("get", "/v1/backends"): SdkCall("backends", models.BackendList),
    ("post", "/v1/batches"): SdkCall("batches.create", models.Batch),
    ("get", "/v1/batches/{batch_id}"): SdkCall("batches.get", models.Batch),
    ("post", "/v1/batches/{batch_id}/cancel"): SdkCall("batches.cancel", models.Batch),
    ("get", "/v1/events"): SdkCall("events.follow", None),
    ("get", "/v1/jobs/{job_id}/events"): SdkCall("jobs.events", None),
    ("get", "/v1/files/{key}"): NotInSdk("image links are opaque signed URLs: jobs.download follows them"),
    ("get", "/healthz"): NotInSdk("a probe for orchestrators"),
    ("get", "/readyz"): NotInSdk("a probe for orchestrators"),
}

#: Header parameters -> the SDK keyword that sets them.
HEADER_KEYWORDS = {"Idempotency-Key": "idempotency_key", "prefer": "wait", "Last-Event-ID": "last_event_id"}

IGNORED_KEYWORDS = {
    "description", "title", "examples", "example",
    "minLength", "maxLength", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum",
    "pattern", "minItems", "maxItems", "multipleOf",
}  # fmt: skip


@pytest.fixture(scope="module")
def document(stack: AppStack) -> dict[str, Any]:
    response = httpx.get(f"{stack.api_url}/openapi.json", timeout=10)
    response.raise_for_status()
    served: dict[str, Any] = response.json()
    return served


def _name(sdk_type: Any) -> str:
    return "CreateJobRequest" if sdk_type is models.CreateJobRequest else str(sdk_type.__name__)


def _normalise(node: Any, rename: Callable[[str], str]) -> Any:
    """The schema with what is not compared removed and every ``$ref`` named by the karloq type it means."""
    if isinstance(node, list):
        return [_normalise(item, rename) for item in node]
    if not isinstance(node, dict):
        return node
    found: dict[str, Any] = {}
    for key, value in node.items():
        if key in IGNORED_KEYWORDS or (key == "properties" and not isinstance(value, dict)):
            continue
        if key == "$ref":
            found[key] = rename(value.rsplit("/", 1)[-1])
        elif key == "properties":
            found[key] = {name: _normalise(prop, rename) for name, prop in value.items()}
        elif key == "discriminator":
            found[key] = {**value, "mapping": {k: rename(v.rsplit("/", 1)[-1]) for k, v in value["mapping"].items()}}
        elif key == "required":
            found[key] = sorted(value)
        else:
            found[key] = _normalise(value, rename)
    return found


def _api_rename(component: str) -> str:
    return _name(SCHEMAS[component]) if component in SCHEMAS else f"<{component}: no karloq type in SCHEMAS>"


def _sdk_schema(sdk_type: Any) -> dict[str, Any]:
    schema = TypeAdapter(sdk_type).json_schema(ref_template="#/$defs/{model}")
    schema.pop("$defs", None)
    normalised: dict[str, Any] = _normalise(schema, lambda name: name)
    return normalised


def _differences(component: str, api: dict[str, Any], sdk: dict[str, Any], sdk_name: str) -> list[str]:
    api_props, sdk_props = api.get("properties", {}), sdk.get("properties", {})
    problems = [
        f"{component}.{p}: served by the API, missing from karloq {sdk_name}"
        for p in api_props.keys() - sdk_props.keys()
    ]
    problems += [
        f"{component}.{p}: in karloq {sdk_name}, not served by the API" for p in sdk_props.keys() - api_props.keys()
    ]
    problems += [
        f"{component}.{p}: the API says {api_props[p]}, karloq {sdk_name} says {sdk_props[p]}"
        for p in api_props.keys() & sdk_props.keys()
        if api_props[p] != sdk_props[p]
    ]
    rest_api = {k: v for k, v in api.items() if k != "properties"}
    rest_sdk = {k: v for k, v in sdk.items() if k != "properties"}
    for key in sorted(rest_api.keys() | rest_sdk.keys()):
        if rest_api.get(key) != rest_sdk.get(key):
            problems.append(
                f"{component} {key}: the API says {rest_api.get(key)}, karloq {sdk_name} says {rest_sdk.get(key)}"
            )
    return sorted(problems)


def test_every_schema_served_has_an_identical_karloq_model(document: dict[str, Any]) -> None:
    components: dict[str, Any] = document["components"]["schemas"]
    problems = [
        f"schema {name}: served by the API, no karloq model for it in SCHEMAS"
        for name in components.keys() - SCHEMAS.keys()
    ]
    problems += [
        f"schema {name}: in SCHEMAS, no longer served by the API" for name in SCHEMAS.keys() - components.keys()
    ]
    for component in sorted(components.keys() & SCHEMAS.keys()):
        sdk_type = SCHEMAS[component]
        api = _normalise(components[component], _api_rename)
        problems += _differences(component, api, _sdk_schema(sdk_type), _name(sdk_type))
    assert not problems, "karloq's models differ from the API:\n  " + "\n  ".join(problems)


def _method(owner: Any, dotted: str) -> Callable[..., Any]:
    target = owner
    for part in dotted.split("."):
        target = getattr(target, part)
    assert callable(target)
    return target


def _success_answer(operation: dict[str, Any]) -> tuple[str | None, Any]:
    """The JSON answer of the operation's success status: its schema's name, and the karloq type for it."""
    for status, response in operation["responses"].items():
        if not status.startswith("2"):
            continue
        schema = response.get("content", {}).get("application/json", {}).get("schema", {})
        if "$ref" in schema:
            name = str(schema["$ref"]).rsplit("/", 1)[-1]
            return name, SCHEMAS.get(name)
        if schema.get("type") == "array" and "$ref" in schema.get("items", {}):
            name = str(schema["items"]["$ref"]).rsplit("/", 1)[-1]
            return f"list[{name}]", list[SCHEMAS[name]] if name in SCHEMAS else None  # type: ignore[misc]
        return (str(schema) if schema else None), None
    return None, None


def _call_problems(
    method: str, path: str, operation: dict[str, Any], call: SdkCall, clients: tuple[Client, AsyncClient]
) -> list[str]:
    where = f"{method.upper()} {path} ({call.method})"
    problems: list[str] = []
    answer, expected = _success_answer(operation)
    if expected != call.answer:
        problems.append(f"{where}: the API answers {answer}, OPERATIONS reads it as {call.answer}")
    for client in clients:
        try:
            function = _method(client, call.method)
        except AttributeError:
            problems.append(f"{where}: karloq {type(client).__name__} has no {call.method}")
            continue
        signature = inspect.signature(function)
        params = operation.get("parameters", [])
        in_path = [p["name"] for p in params if p["in"] == "path"]
        named = {p["name"] for p in params if p["in"] == "query"}
        positional = [
            p.name
            for p in signature.parameters.values()
            if p.kind is p.POSITIONAL_OR_KEYWORD and p.default is p.empty and p.name not in named
        ]
        expected_positional = len(in_path) + (1 if "requestBody" in operation else 0)
        if len(positional) != expected_positional:
            problems.append(
                f"{where}: {type(client).__name__} takes {positional}; the API has path parameters {in_path}"
                + (" and a body" if "requestBody" in operation else "")
            )
        for param in params:
            keyword = HEADER_KEYWORDS.get(param["name"], param["name"]) if param["in"] == "header" else param["name"]
            if param["in"] in ("query", "header") and keyword not in signature.parameters:
                problems.append(f"{where}: {param['in']} parameter {param['name']!r} has no karloq keyword {keyword!r}")
        get_type_hints(function)  # every annotation resolves
    return problems


def test_every_operation_served_has_a_karloq_call(document: dict[str, Any]) -> None:
    served = {(method, path): op for path, ops in document["paths"].items() for method, op in ops.items()}
    problems = [
        f"{m.upper()} {p}: served by the API, no karloq call for it in OPERATIONS"
        for m, p in served.keys() - OPERATIONS.keys()
    ]
    problems += [
        f"{m.upper()} {p}: in OPERATIONS, no longer served by the API" for m, p in OPERATIONS.keys() - served.keys()
    ]
    clients = (Client("http://127.0.0.1:1", "kq_unused"), AsyncClient("http://127.0.0.1:1", "kq_unused"))
    try:
        for key in sorted(served.keys() & OPERATIONS.keys()):
            call = OPERATIONS[key]
            if isinstance(call, SdkCall):
                problems += _call_problems(*key, served[key], call, clients)
    finally:
        clients[0].close()
        asyncio.run(clients[1].aclose())
    assert not problems, "karloq's calls differ from the API:\n  " + "\n  ".join(sorted(problems))


def test_create_job_bodies_are_the_ones_karloq_sends(document: dict[str, Any]) -> None:
    content = document["paths"]["/v1/jobs"]["post"]["requestBody"]["content"]
    assert content["application/json"]["schema"]["$ref"].endswith("/CreateJobRequest")
    multipart = content["multipart/form-data"]["schema"]["properties"]
    assert sorted(multipart) == sorted(_ops.MULTIPART_FIELDS + _ops.MULTIPART_FILES)
    assert multipart["kind"]["enum"] == [kind.value for kind in models.JobKind]
    assert document["paths"]["/v1/webhooks/default"]["put"]["requestBody"]["content"]["application/json"]["schema"][
        "$ref"
    ].endswith("/DefaultUrlRequest")
