"""The one kind of SimPy event the simulator schedules: a callback at a delay and a priority.

Every completion and delivery is a `Call` at priority `ON_TIME`. A PE that becomes free
while other events of the same cycle are still queued defers its choice of the next op
with a `Call` at priority `SETTLED`, which SimPy runs after every `ON_TIME` event of that
cycle. So what a PE starts at cycle t depends on everything that arrived at t, never on
the order in which same-cycle events happen to be queued.
"""

from __future__ import annotations

from typing import Callable

import simpy
from simpy.events import Event

ON_TIME = 1  # completions and message deliveries (SimPy's NORMAL priority)
SETTLED = 2  # decisions taken once every ON_TIME event of the cycle has run


class Call(Event):
    """An event that runs one callback `delay` cycles from now at the given priority."""

    __slots__ = ()

    def __init__(self, env: simpy.Environment, delay: int, callback: Callable[[Event], None], priority: int = ON_TIME):
        super().__init__(env)
        self._ok = True
        self._value = None
        self.callbacks.append(callback)
        env.schedule(self, priority, delay)
