"""The README's Python examples run against the real stack: fenced blocks marked ``python readme-test`` as
scripts, and the one marked ``python readme-test-webhook-receiver`` served by uvicorn and sent real webhooks."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import httpx

from karlo_devstack.processes import ManagedProcess, free_port, http_ok, wait_until
from karloq import Client, GenerateInput
from support.images import image_bytes, mask_bytes
from support.stacks import AppStack

README = Path(__file__).resolve().parents[2] / "README.md"
BLOCK = re.compile(r"^```python (readme-test[\w-]*)\n(.*?)^```", re.MULTILINE | re.DOTALL)


def _blocks(tag: str) -> list[str]:
    return [code for found, code in BLOCK.findall(README.read_text()) if found == tag]


def _env(stack: AppStack, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KARLOQ_")}
    return env | {"KARLOQ_API_URL": stack.api_url, "KARLOQ_API_KEY": stack.tenant.api_key, **extra}


def test_the_readme_sdk_examples_run(stack: AppStack, tmp_path: Path) -> None:
    (tmp_path / "photo.png").write_bytes(image_bytes(64, 64))
    (tmp_path / "mask.png").write_bytes(mask_bytes(64, 64))
    blocks = _blocks("readme-test")
    assert len(blocks) == 3
    for code in blocks:
        done = subprocess.run(
            [sys.executable, "-c", code], cwd=tmp_path, env=_env(stack), capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 0, f"{code}\n---\n{done.stderr}"
    assert len(list((tmp_path / "imgs").iterdir())) >= 4


def test_the_readme_webhook_receiver_verifies_real_deliveries(stack: AppStack, client: Client, tmp_path: Path) -> None:
    [code] = _blocks("readme-test-webhook-receiver")
    (tmp_path / "receiver.py").write_text(code)
    secret = client.webhooks.rotate_secret().secret
    port = free_port()
    argv = [sys.executable, "-m", "uvicorn", "receiver:app", "--host", "127.0.0.1", "--port", str(port)]
    env = _env(stack, WEBHOOK_SECRETS=secret)
    log = tmp_path / "receiver.log"
    proc = ManagedProcess("readme-receiver", argv, log_path=log, env=env, cwd=tmp_path).start()
    url = f"http://127.0.0.1:{port}"
    try:
        proc.wait_ready(lambda: http_ok(f"{url}/docs"), timeout=20)
        job = client.jobs.create(GenerateInput(prompt="a heron", width=384, height=384), webhook=f"{url}/karlo-hooks")
        wait_until(
            lambda: (
                [(d.status, [a.status_code for a in d.attempts]) for d in client.jobs.deliveries(job)]
                == [("delivered", [204])] * 2
            ),
            timeout=30,
            what="both deliveries answered 204",
        )
        wait_until(lambda: (tmp_path / "received" / f"{job.id}-0.webp").exists(), timeout=10, what="image saved")
        forged = httpx.post(
            f"{url}/karlo-hooks",
            content=b"{}",
            headers={"webhook-id": "msg_1", "webhook-timestamp": "1", "webhook-signature": "v1,AAAA"},
        )
        assert forged.status_code == 401
    finally:
        proc.stop()
