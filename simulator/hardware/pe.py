"""A processing element: one op at a time, chosen by the program it runs."""

from __future__ import annotations

from typing import Callable, Protocol

import simpy

from ..records import Message, Op, OpRecord, record
from .events import Call
from .mesh import Coord


class Program(Protocol):
    """What a PE runs: it takes messages in and, when asked, starts its next op."""

    def receive(self, message: Message) -> None: ...

    def start_next(self) -> Op | None: ...


class PE:
    """A processing element that runs one op at a time and counts its busy cycles.

    When the PE is free it asks its program for the next op; the program does the op's
    arithmetic at once (nothing else touches this PE's state while the op runs), and the
    op's `finish` callback, which sends its results, runs when its cycles have elapsed.
    """

    def __init__(self, env: simpy.Environment, coord: Coord, program: Program, trace: list | None = None):
        self.env = env
        self.coord = coord
        self.program = program
        self.trace = trace  # receives an OpRecord per op, or None
        self.busy = False
        self.due: dict[int, int] = {}  # cycle -> messages on their way that arrive then
        self.busy_cycles = 0  # cycles of every op started, counted whole when it starts
        self.busy_until = 0  # the cycle the op in progress (or the last one) ends
        self.ops = 0
        self._finish: Callable[[], None] | None = None

    def deliver(self, message: Message, delay: int) -> None:
        """Hand `message` to this PE `delay` cycles from now (a message on its way)."""
        cycle = self.env.now + delay
        self.due[cycle] = self.due.get(cycle, 0) + 1
        Call(self.env, delay, lambda _event: self._arrive(message))

    def _arrive(self, message: Message) -> None:
        now = self.env.now
        left = self.due[now] - 1
        if left:
            self.due[now] = left
        else:
            del self.due[now]
        self.receive(message)

    def receive(self, message: Message) -> None:
        """A message is here: hand it to the program and look for work."""
        self.program.receive(message)
        self.wake()

    def wake(self) -> None:
        """Start the next op, unless busy or unless a message is still due this cycle:
        its delivery will wake the PE again, so the choice sees every same-cycle arrival."""
        if self.busy:
            return
        now = self.env.now
        if now in self.due:
            return
        op = self.program.start_next()
        if op is None:
            return
        kind, tag, cycles, finish = op
        self.busy = True
        self.busy_cycles += cycles
        self.busy_until = now + cycles
        self.ops += 1
        if self.trace is not None:
            self.trace.append(record(OpRecord, self.coord, kind, tag, now, now + cycles))
        self._finish = finish
        Call(self.env, cycles, self._complete)

    def busy_cycles_by(self, cycle: int) -> int:
        """Busy cycles up to `cycle`: an op still running then (a run stopped early) counts only up to it."""
        return self.busy_cycles - max(0, self.busy_until - cycle)

    def _complete(self, _event) -> None:
        self.busy = False
        finish, self._finish = self._finish, None
        finish()
        self.wake()
