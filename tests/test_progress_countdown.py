"""The CLI's live view counts down a long wait (creep, starting, a long gate, warm-up) between events, at
the bench's own pace, and drops the countdown when the wait ends."""

from __future__ import annotations

import io

from rich.console import Console

from bench.kernel import records as r
from bench.progress import ProgressView


class Wall:
    t = 1000.0

    def __call__(self) -> float:
        return self.t


def _view(wall, speed=None) -> ProgressView:
    console = Console(file=io.StringIO(), force_terminal=True, width=80)
    return ProgressView(title="ansi-c12.20-2s", console=console, plain=False, speed=speed, now=wall)


def test_a_creep_window_counts_down_in_real_time():
    wall = Wall()
    view = _view(wall, speed=1.0)
    view(r.RunStarted(plan="ansi-c12.20-2s", positions=(1, 2)))
    view(r.Waiting(what="creep", seconds=600.0))
    assert view.remaining() == "CREEP window: 10:00 left of 10:00"
    wall.t += 30.0  # no event arrives during the window: the title still moves
    assert view.remaining() == "CREEP window: 9:30 left of 10:00"
    assert view.header() == "ansi-c12.20-2s - CREEP window: 9:30 left of 10:00"
    view(r.CountResult(position=1, point_id="CREEP", test_kind="creep", pulses=0, seconds=600.0,
                       verdict="pass", message="0 pulses"))  # fmt: skip
    assert view.remaining() == ""


def test_the_pace_is_measured_from_the_events_when_not_given():
    wall = Wall()
    view = _view(wall)
    view(r.RunStarted(plan="p", positions=(1,)))
    wall.t += 2.0
    view(r.Waiting(bench_time=20.0, what="starting", seconds=600.0))  # 10 bench s per wall s
    wall.t += 6.0
    assert view.remaining() == "STARTING window: 9:00 left of 10:00"
    wall.t += 600.0
    assert view.remaining() == "STARTING window: 0:00 left of 10:00"
