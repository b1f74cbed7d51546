"""A processing element: one op at a time, chosen by the program it runs."""

from __future__ import annotations

from heapq import heappop, heappush
from typing import Callable, Protocol

import simpy
from simpy.core import NORMAL

from ..records import Message, Op, OpRecord, new_record
from .events import Completion, Delivery
from .mesh import Coord


class Program(Protocol):
    """What a PE runs: it takes messages in and, when asked, starts its next op.

    A program may also set `local_receive = True`: its `receive` only files the message in
    the program's own state (it reads no clock, sends nothing, and changes nothing another
    PE or the run looks at), so the PE may hand a message over after it arrives, as long
    as it does so before the program next acts.
    """

    def receive(self, message: Message) -> None: ...

    def start_next(self) -> Op | None: ...


class PE:
    """A processing element that runs one op at a time and counts its busy cycles.

    When the PE is free it asks its program for the next op; the program does the op's
    arithmetic at once (nothing else touches this PE's state while the op runs), and the
    op's `finish` callback, which sends its results, runs when its cycles have elapsed.

    Messages on their way wait in `inbox` under their (arrival cycle, event id) and are
    handed to the program in that order, each before anything the PE does later in the
    event order. A free PE decides at the arrival of each message, and a PE freed at cycle
    t while a message is still due at t leaves the choice to that delivery, so the choice
    sees every same-cycle arrival. A message gets a `Delivery` event only where it can
    change what the PE does: if the program receives locally, only when the PE is free
    and the message is the next to arrive; otherwise always (the program sees each
    message at its arrival). A message that reaches a busy PE of a local program takes no
    event: it is handed over when the op ends. The decisions, and so every op and
    message, are the same as if each message had an event of its own.
    """

    def __init__(self, env: simpy.Environment, coord: Coord, program: Program, trace: list | None = None):
        self.env = env
        self.coord = coord
        self.program = program
        self.trace = trace  # receives an OpRecord per op, or None
        self.busy = False
        self.inbox: list[tuple] = []  # heap of (arrival cycle, event id, message) not yet handed over
        self.armed: set[int] = set()  # event ids of inbox messages whose Delivery is queued
        self.on_time = not getattr(program, "local_receive", False)  # every message gets its Delivery
        self.busy_cycles = 0  # cycles of every op started, counted whole when it starts
        self.busy_until = 0  # the cycle the op in progress (or the last one) ends
        self.ops = 0
        self._finish: Callable[[], None] | None = None
        self._arrivals = [self._arrive]  # the callbacks of every Delivery to this PE
        self._done = Completion(self._complete)
        self._queue, self._ids = env._queue, env._eid  # SimPy's event heap and id counter (see events.py)

    # -- messages ------------------------------------------------------------------------
    def deliver(self, message: Message, delay: int) -> None:
        """Hand `message` to this PE `delay` cycles from now (a message on its way)."""
        self.deliver_at(message, self.env._now + delay)

    def deliver_at(self, message: Message, cycle: int) -> None:
        """Hand `message` to this PE at `cycle` (now or later)."""
        event_id = next(self._ids)
        entry = (cycle, event_id, message)
        inbox = self.inbox
        heappush(inbox, entry)
        if self.on_time or (not self.busy and inbox[0] is entry):
            self.armed.add(event_id)  # as in _arm_next
            heappush(self._queue, (cycle, NORMAL, event_id, Delivery(self._arrivals, cycle, event_id)))

    def _arm_next(self) -> None:
        """Make sure the first message of the inbox has its Delivery queued (a free PE waits for it)."""
        cycle, event_id, _ = self.inbox[0]
        if event_id not in self.armed:  # queue it under the id it was sent with (`events.queue_at`, inlined)
            self.armed.add(event_id)
            heappush(self._queue, (cycle, NORMAL, event_id, Delivery(self._arrivals, cycle, event_id)))

    def _arrive(self, event: Delivery) -> None:
        cycle, event_id = event.cycle, event.event_id
        self.armed.discard(event_id)
        self.hand_over(cycle, event_id + 1)  # this message and those before it
        if not self.busy:
            self._decide(cycle)

    def hand_over(self, cycle: int, event_id: int) -> None:
        """Give the program, in order, the inbox messages that precede event `event_id` of `cycle`."""
        inbox = self.inbox
        # An inbox entry (arrival, seq, message) precedes the event exactly when the tuple compares below
        # (cycle, event_id): element by element, and an entry equal in both (the event's own message)
        # is the longer tuple, so not below. The message itself is never compared.
        before = (cycle, event_id)
        if inbox and inbox[0] < before:
            receive = self.program.receive
            while inbox and inbox[0] < before:
                receive(heappop(inbox)[2])

    # -- ops -------------------------------------------------------------------------------
    def wake(self) -> None:
        """Start the next op, unless busy or unless a message is still due this cycle:
        its delivery will wake the PE again, so the choice sees every same-cycle arrival."""
        if not self.busy:
            self._decide(self.env._now)

    def _decide(self, now: int) -> None:
        """The PE is free at `now`, with every message before this point of the event order handed over."""
        inbox = self.inbox
        if inbox and inbox[0][0] == now:  # a message still due this cycle: its delivery decides
            self._arm_next()
            return
        op = self.program.start_next()
        if op is None:
            if inbox:  # wake at the next arrival
                self._arm_next()
            return
        kind, tag, cycles, finish = op
        self.busy = True
        self.busy_cycles += cycles
        end = self.busy_until = now + cycles
        self.ops += 1
        if self.trace is not None:
            self.trace.append(new_record(OpRecord, (self.coord, kind, tag, now, end)))
        self._finish = finish
        done = self._done  # queue the completion at `end`
        done.callbacks = done.on_end
        event_id = done.event_id = next(self._ids)
        heappush(self._queue, (end, NORMAL, event_id, done))

    def busy_cycles_by(self, cycle: int) -> int:
        """Busy cycles up to `cycle`: an op still running then (a run stopped early) counts only up to it."""
        return self.busy_cycles - max(0, self.busy_until - cycle)

    def _complete(self, event: Completion) -> None:
        self.busy = False
        now = self.busy_until
        if self.inbox:
            self.hand_over(now, event.event_id)
        finish, self._finish = self._finish, None
        finish()
        self._decide(now)
