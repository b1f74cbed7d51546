"""A processing element: one op at a time, chosen by the program it runs."""

from __future__ import annotations

from typing import Callable, Protocol

import simpy

from .events import SETTLED, Call
from .mesh import Coord

# What a program returns when asked for work: (op kind, sample or batch id, cycles, finish callback).
Op = tuple[str, int, int, Callable[[], None]]


class Program(Protocol):
    """What a PE runs: it takes messages in and, when asked, starts its next op."""

    def receive(self, message: tuple) -> None: ...

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
        self.trace = trace  # receives (coord, kind, tag, start, end) per op, or None
        self.busy = False
        self.deciding = False
        self.busy_cycles = 0
        self.ops = 0
        self._finish: Callable[[], None] | None = None

    def receive(self, message: tuple) -> None:
        """A message has arrived: hand it to the program and look for work."""
        self.program.receive(message)
        self.wake()

    def wake(self) -> None:
        """Start the next op now, or once every event of this cycle has run if more are queued."""
        if self.busy or self.deciding:
            return
        if self.env.peek() == self.env.now:
            self.deciding = True
            Call(self.env, 0, self._decide, SETTLED)
        else:
            self._decide(None)

    def _decide(self, _event) -> None:
        self.deciding = False
        op = self.program.start_next()
        if op is None:
            return
        kind, tag, cycles, finish = op
        now = self.env.now
        self.busy = True
        self.busy_cycles += cycles
        self.ops += 1
        if self.trace is not None:
            self.trace.append((self.coord, kind, tag, now, now + cycles))
        self._finish = finish
        Call(self.env, cycles, self._complete)

    def _complete(self, _event) -> None:
        self.busy = False
        finish, self._finish = self._finish, None
        finish()
        self.wake()
