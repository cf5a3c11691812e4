"""``AsyncClient`` over the real wire: the same journey as the blocking client."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from karloq import AsyncClient, GenerateInput, InvalidRequestError, JobStatus, VariationInput
from support.images import decode, image_bytes
from support.receiver import Receiver

SMALL = {"width": 384, "height": 384}


def test_async_journey(async_client: AsyncClient, receiver: Receiver, tmp_path: Path) -> None:
    async def journey() -> None:
        async with async_client as client:
            secret = (await client.webhooks.rotate_secret()).secret
            assert secret.startswith("whsec_")
            result = await client.run(
                GenerateInput(prompt="an async owl", samples=2, **SMALL),
                out_dir=tmp_path,
                webhook=receiver.hook("/async"),
            )
            assert result.job.status == JobStatus.SUCCEEDED
            assert [decode(p.read_bytes()).size for p in result.files] == [(384, 384)] * 2

            variations = await asyncio.gather(
                *(client.jobs.create(VariationInput(**SMALL), image=image_bytes(64, 64)) for _ in range(3))
            )
            done = await asyncio.gather(*(client.jobs.wait(job, timeout=30) for job in variations))
            assert {job.status for job in done} == {"succeeded"}
            files = await client.jobs.download(done[0], tmp_path / "variation")
            assert len(files) == 1 and decode(files[0].read_bytes())

            listed = [job.id async for job in client.jobs.list(limit=2)]
            assert sorted(listed[:3]) == sorted(job.id for job in variations)  # created together, in any order
            assert listed[3:] == [result.job.id]
            assert (await client.jobs.get(result.job.id)).id == result.job.id
            assert [d.event for d in await client.jobs.deliveries(result.job)] == ["job.started", "job.succeeded"]
            assert (await client.quota()).scopes

            with pytest.raises(InvalidRequestError) as caught:
                await client.jobs.create(GenerateInput(prompt="a cat", samples=9))
            assert [e.field for e in caught.value.errors] == ["input.samples"]

    asyncio.run(journey())
