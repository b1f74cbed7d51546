"""The one kind of SimPy event the simulator schedules: a callback after a delay.

Completions and deliveries are `Call`s. A PE that becomes free at cycle t while a
message to it is still due at t waits for that delivery (which wakes it) before it
chooses its next op, so what it starts at t depends on everything that reaches it at t,
never on the order in which same-cycle events happen to be queued (see `pe.PE.wake`).
"""

from __future__ import annotations

from typing import Callable

import simpy
from simpy.core import NORMAL
from simpy.events import Event


class Call(Event):
    """An event that runs one callback `delay` cycles from now."""

    __slots__ = ()

    def __init__(self, env: simpy.Environment, delay: int, callback: Callable[[Event], None]):
        # What Event.__init__ and Timeout do, in one step: a triggered event with one callback.
        self.env = env
        self.callbacks = [callback]
        self._ok = True
        self._value = None
        env.schedule(self, NORMAL, delay)
