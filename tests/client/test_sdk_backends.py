"""The SDK lists the generation backends and names one when creating a job."""

from __future__ import annotations

import pytest

from karloq import Capacity, Client, GenerateInput, InvalidRequestError


def test_backends_are_listed(client: Client) -> None:
    (karlo,) = client.backends()
    assert (karlo.name, karlo.default, karlo.capacity, karlo.queue) == ("karlo", True, Capacity.QUOTA, "jobs")
    assert "negative_prompt" in karlo.parameters["generate"]


def test_a_job_names_its_backend(client: Client) -> None:
    job = client.jobs.create(GenerateInput(prompt="a kite", width=384, height=384), backend="karlo")
    assert job.backend == "karlo"
    with pytest.raises(InvalidRequestError) as caught:
        client.jobs.create(GenerateInput(prompt="a kite"), backend="karlo-open")
    assert caught.value.errors[0].field == "backend"
