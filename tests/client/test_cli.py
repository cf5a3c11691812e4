"""The ``karloq`` command line as a person and a script use it: a subprocess, and its screen under a pty."""

from __future__ import annotations

import fcntl
import json
import os
import pty
import re
import select
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

from karlo_devstack.processes import free_port
from karlo_devstack.services import sim_control
from karloq.cli import ExitCode
from support.images import decode, image_bytes, mask_bytes
from support.stacks import AppStack, Services

KARLOQ = str(Path(sys.executable).with_name("karloq"))
SMALL = ["--width", "384", "--height", "384"]
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07|\r")


def _env(stack: AppStack, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KARLOQ_")}
    return env | {"KARLOQ_API_URL": stack.api_url, "KARLOQ_API_KEY": stack.tenant.api_key, **extra}


def karloq(stack: AppStack, *args: str, cwd: Path | None = None, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [KARLOQ, *args],
        env=_env(stack, **env),
        cwd=cwd or stack.workdir,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _one_line(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("karloq: ") and "Traceback" not in stderr
    return lines[0]


def test_generate_writes_decodable_images(stack: AppStack, tmp_path: Path) -> None:
    done = karloq(stack, "generate", "a red fox", "-n", "2", *SMALL, "--format", "png", "--out", str(tmp_path))
    assert done.returncode == ExitCode.OK, done.stderr
    files = [Path(line) for line in done.stdout.splitlines()]
    assert len(files) == 2 and all(path.parent == tmp_path for path in files)
    assert [(decode(path.read_bytes()).format, decode(path.read_bytes()).size) for path in files] == [
        ("PNG", (384, 384))
    ] * 2
    assert done.stderr == ""  # not a terminal: no status line


def test_json_output_parses_for_every_kind(stack: AppStack, tmp_path: Path) -> None:
    photo, mask = tmp_path / "photo.png", tmp_path / "mask.png"
    photo.write_bytes(image_bytes(64, 64))
    mask.write_bytes(mask_bytes(64, 64))
    runs = {
        "generate": ["generate", "a lake", *SMALL],
        "variation": ["variation", str(photo), *SMALL],
        "inpaint": ["inpaint", str(photo), "a red door", "--mask", str(mask)],
        "extend": ["extend", str(photo), "more sky", "--top", "32"],
    }
    for kind, args in runs.items():
        done = karloq(stack, *args, "--out", str(tmp_path / kind), "--json")
        assert done.returncode == ExitCode.OK, done.stderr
        printed = json.loads(done.stdout)
        assert printed["job"]["kind"] == kind and printed["job"]["status"] == "succeeded"
        assert [decode(Path(f).read_bytes()) for f in printed["files"]]
    listed = json.loads(karloq(stack, "jobs", "list", "--json").stdout)
    assert [job["kind"] for job in listed] == ["extend", "inpaint", "variation", "generate"]
    shown = json.loads(karloq(stack, "--json", "jobs", "get", listed[0]["id"]).stdout)
    assert shown["id"] == listed[0]["id"]
    assert json.loads(karloq(stack, "quota", "--json").stdout)["scopes"][0]["scope"] == "karlo"


def test_a_refused_prompt_exits_refused_with_one_line(stack: AppStack, tmp_path: Path) -> None:
    done = karloq(stack, "generate", "우주복을 입은 고양이", "--out", str(tmp_path))
    assert done.returncode == ExitCode.REFUSED
    line = _one_line(done.stderr)
    assert "422 validation-error" in line and "input.prompt" in line and "English" in line
    assert done.stdout == "" and list(tmp_path.iterdir()) == []


def test_priority_and_backend_options_reach_the_job(stack: AppStack, tmp_path: Path) -> None:
    done = karloq(stack, "generate", "a quiet harbour", *SMALL, "--priority", "low", "--no-wait", "--json")
    assert done.returncode == ExitCode.OK, done.stderr
    assert json.loads(done.stdout)["priority"] == "low"
    done = karloq(
        stack, "generate", "a quiet harbour", "--backend", "karlo", "--priority", "high", "--out", str(tmp_path)
    )
    assert done.returncode == ExitCode.OK, done.stderr
    # The stack runs no open Karlo backend: the service's 422 names the field and rule, in one line.
    done = karloq(stack, "generate", "a quiet harbour", "--backend", "karlo-open", "--out", str(tmp_path))
    assert done.returncode == ExitCode.REFUSED
    assert "backend" in _one_line(done.stderr) and "enabled" in done.stderr
    done = karloq(stack, "generate", "a quiet harbour", "--priority", "urgent")
    assert done.returncode == ExitCode.USAGE and "urgent" in done.stderr


def test_an_unreachable_api_exits_with_its_own_code(stack: AppStack) -> None:
    done = karloq(stack, "quota", KARLOQ_API_URL=f"http://127.0.0.1:{free_port()}")
    assert done.returncode == ExitCode.UNREACHABLE
    assert "cannot reach" in _one_line(done.stderr)


def test_bad_input_is_one_line_not_a_traceback(stack: AppStack, tmp_path: Path) -> None:
    missing = karloq(stack, "variation", str(tmp_path / "nowhere.png"))
    assert missing.returncode == ExitCode.USAGE and "nowhere.png" in _one_line(missing.stderr)
    no_key = karloq(stack, "quota", KARLOQ_API_KEY="")
    assert no_key.returncode == ExitCode.USAGE and "KARLOQ_API_KEY" in _one_line(no_key.stderr)
    wrong_key = karloq(stack, "quota", KARLOQ_API_KEY="kq_not_a_key")
    assert wrong_key.returncode == ExitCode.REFUSED and "401" in _one_line(wrong_key.stderr)
    unknown = karloq(stack, "generate", "a cat", "-p", "colour=red")
    assert unknown.returncode == ExitCode.USAGE and "colour" in _one_line(unknown.stderr)


def test_in_a_checkout_the_dev_key_of_make_run_is_used(stack: AppStack, tmp_path: Path) -> None:
    (tmp_path / "var" / "run").mkdir(parents=True)
    (tmp_path / "var" / "run" / "dev-api-key").write_text(stack.tenant.api_key + "\n")
    done = karloq(stack, "quota", "--json", cwd=tmp_path, KARLOQ_API_KEY="")
    assert done.returncode == ExitCode.OK, done.stderr
    assert json.loads(done.stdout)["scopes"]


def test_a_failed_job_exits_job_failed(stack: AppStack, services: Services, tmp_path: Path) -> None:
    sim_control(services.sim_url, faults=[{"code": -2, "http_status": 400, "msg": "bad parameter", "times": 1}])
    done = karloq(stack, "generate", "a doomed dragon", *SMALL, "--out", str(tmp_path))
    assert done.returncode == ExitCode.JOB_FAILED
    assert "failed" in _one_line(done.stderr)


def test_jobs_cancel_and_wait(stack: AppStack, services: Services) -> None:
    # Karlo answers slowly enough that three command-line starts (seconds each on a loaded machine) come first.
    sim_control(services.sim_url, latency_ms=8000)
    created = json.loads(karloq(stack, "generate", "a patient snail", *SMALL, "--no-wait", "--json").stdout)
    impatient = karloq(stack, "jobs", "wait", created["id"], "--timeout", "0.3")
    assert impatient.returncode == ExitCode.TIMED_OUT and "still" in _one_line(impatient.stderr)
    canceled = karloq(stack, "jobs", "cancel", created["id"], "--json")
    assert canceled.returncode == ExitCode.OK and json.loads(canceled.stdout)["id"] == created["id"]
    waited = karloq(stack, "jobs", "wait", created["id"], "--json")
    assert waited.returncode == ExitCode.JOB_FAILED
    assert json.loads(waited.stdout)["job"]["status"] == "canceled"
    assert "canceled" in _one_line(waited.stderr)


def _under_pty(args: list[str], env: dict[str, str], *, timeout: float = 60) -> tuple[int, str]:
    """Run a command on a pseudo-terminal 120 columns wide; its exit code and everything its screen got."""
    pid, fd = pty.fork()
    if pid == 0:  # the child: becomes the command
        os.execve(args[0], args, env)
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    screen = b""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.5)
        if not ready:
            continue
        try:
            chunk = os.read(fd, 65536)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        screen += chunk
    _, status = os.waitpid(pid, 0)
    os.close(fd)
    return os.waitstatus_to_exitcode(status), ANSI.sub("", screen.decode("utf-8", "replace"))


def test_generate_on_a_terminal_shows_a_live_status_line(stack: AppStack, services: Services, tmp_path: Path) -> None:
    sim_control(services.sim_url, latency_ms=3500)  # longer than the create call waits: the line goes live
    env = _env(stack, TERM="xterm-256color", COLUMNS="120", LINES="40")
    env.pop("NO_COLOR", None)
    code, screen = _under_pty([KARLOQ, "generate", "a lighthouse at dusk", *SMALL, "--out", str(tmp_path)], env)
    assert code == ExitCode.OK, screen
    assert "running" in screen and "done: 1 image" in screen, screen
    saved = list(tmp_path.iterdir())
    assert len(saved) == 1 and str(saved[0]) in screen
    assert decode(saved[0].read_bytes()).size == (384, 384)
