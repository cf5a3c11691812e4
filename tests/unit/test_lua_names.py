"""The status and event names the Lua scripts use are the ones the Python side defines, so neither can be renamed
without the other; and the shared Lua libraries are included once per script."""

from __future__ import annotations

import re
from importlib.resources import files

from karlo_core import lua
from karlo_core.event_stream import STREAM_EVENTS
from karlo_core.jobs import JobStatus
from karlo_core.plans import PLAN_FIELDS
from karlo_core.quota.policy import UNLIMITED
from karlo_core.webhooks.events import ALL_EVENTS, EVENT_FOR_STATUS

SCRIPTS = {p.name.removesuffix(".lua"): p.read_text() for p in files(lua).iterdir() if p.name.endswith(".lua")}
#: A job status compared or stored: ``status == 'x'``, ``'status', 'x'``, and the new status handed to the
#: event recorder. (``record.status`` is a webhook delivery's own state, not a job status.)
STATUS_USES = (
    re.compile(r"(?<![.\w])status\s*[=~]=\s*'(\w+)'"),
    re.compile(r"'status',\s*'(\w+)'"),
    re.compile(r"record_job_event\([^)]*,\s*'(\w+)',\s*now\)"),
)
EVENT_LITERAL = re.compile(r"'((?:job|batch)\.\w+)'")
TABLE_ENTRY = re.compile(r"(\w+)\s*=\s*'(job\.\w+)'")


def _statuses_used() -> dict[str, set[str]]:
    used: dict[str, set[str]] = {}
    for name, text in SCRIPTS.items():
        code = "\n".join(line.split("--", 1)[0] for line in text.splitlines())
        for pattern in STATUS_USES:
            for status in pattern.findall(code):
                used.setdefault(status, set()).add(name)
    return used


def test_every_status_the_scripts_name_is_a_job_status() -> None:
    used = _statuses_used()
    assert {"queued", "waiting_for_quota", "running", "canceled"} <= set(used)
    unknown = {status: sorted(scripts) for status, scripts in used.items() if status not in set(JobStatus)}
    assert unknown == {}


def test_the_scripts_event_table_is_the_python_one() -> None:
    body = SCRIPTS["job_events"].split("local JOB_EVENTS = {", 1)[1].split("}", 1)[0]
    assert dict(TABLE_ENTRY.findall(body)) == {status.value: event for status, event in EVENT_FOR_STATUS.items()}


def test_the_scripts_stream_only_events_are_the_python_ones() -> None:
    body = SCRIPTS["job_events"].split("local STREAM_ONLY_EVENTS = {", 1)[1].split("}", 1)[0]
    assert dict(TABLE_ENTRY.findall(body)) == {JobStatus.QUEUED.value: "job.queued"}


def test_every_event_the_scripts_name_is_a_known_event() -> None:
    """Webhook events are the job-status table's; streams carry those, job.queued, job.progress and
    batch.completed."""
    named = {event for text in SCRIPTS.values() for event in EVENT_LITERAL.findall(text)}
    assert set(ALL_EVENTS) <= set(STREAM_EVENTS)
    assert named - set(STREAM_EVENTS) == set()
    assert {"job.queued", "job.progress", "batch.completed"} <= named


def test_a_library_is_included_once_however_many_ask_for_it() -> None:
    for script in ("job_cancel", "job_claim", "job_settle"):
        text = lua.load(script)
        assert text.count("local function cancel_now(") == 1
        assert text.count("local function record_job_event(") == 1
        assert lua.INCLUDE not in text
    assert lua.load("job_progress").count("local function append_stream_event(") == 1


def test_the_plan_reader_reads_the_python_plan_fields_and_unlimited() -> None:
    """``lua/plan_lib.lua`` reads the fields ``karlo_core.plans`` writes; a share's unset window is as unlimited
    as ``karlo_core.quota.policy.UNLIMITED``."""
    text = SCRIPTS["plan_lib"]
    read = re.search(r"'HMGET', plan_key,([^)]*)\)", text)
    assert read is not None
    assert tuple(re.findall(r"'(\w+)'", read.group(1))) == PLAN_FIELDS
    unlimited = re.search(r"local PLAN_UNLIMITED = (\S+)", text)
    assert unlimited is not None and float(unlimited.group(1)) == UNLIMITED
    assert lua.load("job_accept").count("local function plan_read(") == 1
