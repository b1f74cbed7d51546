"""The SimPy events the simulator schedules, and the order they run in.

SimPy keeps its queue as a heap of (cycle, priority, event id, event) (`env._queue`,
with ids from the counter `env._eid`) and runs events in that order: by cycle and,
within a cycle, by event id, the order they were scheduled in. A message is given its
event id when it is sent, whether or not an event is queued for it then, and an event
queued for it later is filed under that id (`queue_at`): so messages and op completions
are taken in the order of their cycles and of their sends, however late their events
are queued. (The PE and `Chip.run` use these two attributes of SimPy's environment
directly, for speed; all events are still SimPy's to run, and `env.run()` runs them.)

A PE that becomes free at cycle t while a message to it is still due at t waits for that
delivery (which wakes it) before it chooses its next op, so what it starts at t depends
on everything that reaches it at t, never on the order in which same-cycle events happen
to be queued (see `pe.PE`).

`Delivery` and `Completion` are what `simpy.Environment.step` needs of an event and no
more: a `callbacks` list it takes and runs, and `_ok` (always True: they never fail).
"""

from __future__ import annotations

from heapq import heappush
from typing import Callable

import simpy
from simpy.core import NORMAL


def queue_at(env: simpy.Environment, cycle: int, event_id: int, event) -> None:
    """Queue `event` at `cycle` under an id already drawn from the environment's counter
    (what `env.schedule` does with a fresh one)."""
    heappush(env._queue, (cycle, NORMAL, event_id, event))


class Delivery:
    """The event of a message reaching a PE: at its arrival cycle, under the id it was sent with."""

    __slots__ = ("callbacks", "cycle", "event_id")
    _ok = True

    def __init__(self, callbacks: list, cycle: int, event_id: int):
        self.callbacks = callbacks  # shared by every delivery to the PE; step() only reads it
        self.cycle = cycle
        self.event_id = event_id


class Completion:
    """The end of a PE's op in progress: one event object per PE, queued again (by the PE) for each op."""

    __slots__ = ("callbacks", "on_end", "event_id")
    _ok = True

    def __init__(self, callback: Callable[[object], None]):
        self.on_end = [callback]  # what `callbacks` is set to each time the event is queued
        self.callbacks = None  # step() sets it to None when it runs the event
        self.event_id = -1  # the id it is queued under
