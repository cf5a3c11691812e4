"""The estimated start's replay of the dispatcher (``karlo_core.scheduler.replay_start``) on queue views built
by hand: when a step that only lets a smaller job fill a remainder is expected, that a smaller job fills only
once no image frees up within the fill gate, with what the waiting jobs it passes cannot use by then, and a
tenant's part of the freed images among other tenants' work."""

from __future__ import annotations

import pytest

from karlo_core.scheduler import DISPATCH_LAG, _Entry, _Queued, _QueueView, replay_start


def _view(now: float, jobs: list[_Queued], log: list[_Entry]) -> _QueueView:
    images = sum(job.images for job in jobs)
    return _QueueView("karlo", now, None, jobs, len(jobs), images, log, None, None, 0.0)


def test_a_step_that_only_lets_a_smaller_job_fill_comes_the_fill_lag_after_the_release() -> None:
    # 6 images a 4 s window, all held: 1 image frees at 4 s, 5 more at 6 s; the head needs 4
    view = _view(2.5, [_Queued("big", 4, 0.0), _Queued("small", 1, 0.0)], [_Entry(1, 0.0, 0.0), _Entry(5, 2.0, 2.0)])
    for lag in (0.2, 0.8):
        small = replay_start(view, 1, limit=6, span=4.0, others=0, fill_lag=lag)
        big = replay_start(view, 0, limit=6, span=4.0, others=0, fill_lag=lag)
        # the small job fills the freed image: the 5 freed at 6 s still hold the head, which goes then
        assert small == pytest.approx(4.0 + lag)
        assert big == pytest.approx(6.0 + DISPATCH_LAG)
    # in order: the head goes once its 4 images are free (a tick wakes for that moment), the small one with it
    assert replay_start(view, 0, limit=6, span=4.0, others=0, fill_lag=None) == pytest.approx(6.0 + DISPATCH_LAG)
    assert replay_start(view, 1, limit=6, span=4.0, others=0, fill_lag=None) == pytest.approx(6.0 + DISPATCH_LAG)


def test_a_smaller_job_waits_its_turn_while_images_free_up_soon_or_when_it_would_push_the_head_a_window() -> None:
    jobs = [_Queued("big", 4, 0.0), _Queued("small", 1, 0.0)]
    # 4 images a 4 s window, all held: 1 image frees at 4 s, 3 more at 6 s; the head needs all 4: filling the
    # image freed at 4 s would hold the head until that image frees again, a window later
    view = _view(2.5, jobs, [_Entry(1, 0.0, 0.0), _Entry(3, 2.0, 2.0)])
    for lag in (0.2, 0.8):
        assert replay_start(view, 0, limit=4, span=4.0, others=0, fill_lag=lag) == pytest.approx(6.0 + DISPATCH_LAG)
        assert replay_start(view, 1, limit=4, span=4.0, others=0, fill_lag=lag) > 10.0
    # 6 images, 1 freed at 4 s and 5 at 4.5 s: within the fill gate (a quarter window, at most 1 s) of the step
    # at 4.2 s, so the small one waits for them and goes after the head, though it would not have delayed it
    view = _view(1.0, jobs, [_Entry(1, 0.0, 0.0), _Entry(5, 0.5, 0.5)])
    assert replay_start(view, 1, limit=6, span=4.0, others=0, fill_lag=0.2, lag=0.2) == pytest.approx(4.7)
    assert replay_start(view, 0, limit=6, span=4.0, others=0, fill_lag=0.2, lag=0.2) == pytest.approx(4.7)


def test_a_tenants_part_of_freed_images_it_cannot_use_yet_stays_its_own() -> None:
    # 12 images a 4 s window, freed one at a time 50 ms apart; 16 one-image jobs, 31 images of others ahead:
    # its part is 12 x 16/47 (about 4.1) a window, so its 16th image goes in the 4th window, not the 5th
    # (which it would if the others took their part again of each fraction it could not use at once)
    jobs = [_Queued(f"j{i}", 1, 0.0) for i in range(16)]
    log = [_Entry(1, 0.05 * i + 0.01, 0.05 * i) for i in range(12)]
    start = replay_start(_view(0.6, jobs, log), 15, limit=12, span=4.0, others=31, fill_lag=0.5)
    assert 3 * 4.0 + 4.0 < start < 4 * 4.0 + 2.0
