"""The simulated chip: one SimPy environment, a mesh, its network and the PEs in use."""

from __future__ import annotations

from heapq import heappop
from typing import TYPE_CHECKING

import simpy

from ..records import Message, MessageRecord, new_record
from .cost import op_cycles
from .link import Network
from .mesh import Coord, Mesh
from .pe import PE, Program

if TYPE_CHECKING:
    from ..config import HardwareConfig


class Chip:
    """A wafer-scale mesh under simulation: PEs that run programs and a network that carries messages.

    All simulation state lives here (and in the programs), never in module globals, so
    several chips can be simulated side by side.
    """

    def __init__(self, hardware: HardwareConfig, trace: bool = True):
        self.hardware = hardware
        self.env = simpy.Environment()
        self.mesh = Mesh(hardware.mesh.rows, hardware.mesh.cols)
        self.network = Network(self.mesh, hardware.noc.hop_latency_cycles,
                               hardware.noc.link_bytes_per_cycle, hardware.noc.contention)
        self.pes: dict[Coord, PE] = {}
        self.trace: list | None = [] if trace else None
        # With trace on, one MessageRecord per message.
        self.messages: list | None = [] if trace else None
        self.traffic: dict[str, list[int]] = {}  # message kind -> [messages, bytes, byte_hops]
        self.paused = False
        self._channels: dict[tuple[Coord, Coord], tuple] = {}  # (src, dst) -> `channel(src, dst)`

    @property
    def now(self) -> int:
        return self.env.now

    def add_pe(self, coord: Coord, program: Program) -> PE:
        """Put a program on the PE at `coord`; each PE runs one program."""
        if coord not in self.mesh:
            raise ValueError(f"{coord} is outside the {self.mesh.rows}x{self.mesh.cols} mesh")
        if coord in self.pes:
            raise ValueError(f"PE {coord} already runs a program")
        pe = PE(self.env, coord, program, self.trace)
        self.pes[coord] = pe
        return pe

    def op_cycles(self, macs: int) -> int:
        return op_cycles(macs, self.hardware.pe.macs_per_cycle, self.hardware.pe.op_overhead_cycles)

    def channel(self, src: Coord, dst: Coord) -> tuple:
        """What sending from src to the PE at dst needs, looked up once: (src, dst, route, hops, receiving PE)."""
        channel = self._channels.get((src, dst))
        if channel is None:
            route = self.network.route(src, dst)
            channel = self._channels[(src, dst)] = (src, dst, route, len(route), self.pes[dst])
        return channel

    def send(self, src: Coord, dst: Coord, nbytes: int, message: Message) -> int:
        """Send `message` of `nbytes` from src to the PE at dst; return the arrival cycle.

        Traffic is counted per message kind, and the trace logs the tag.
        """
        return self.send_on(self.channel(src, dst), nbytes, message)

    def send_on(self, channel: tuple, nbytes: int, message: Message) -> int:
        """`send` along a `channel`."""
        src, dst, route, hops, pe = channel
        now = self.env._now
        arrival = self.network.transit_on(route, nbytes, now)
        kind = message[0]
        counts = self.traffic.get(kind)
        if counts is None:
            counts = self.traffic[kind] = [0, 0, 0]
        counts[0] += 1
        counts[1] += nbytes
        counts[2] += nbytes * hops
        if self.messages is not None:
            self.messages.append(new_record(MessageRecord, (src, dst, now, arrival, nbytes, kind, message[1])))
        pe.deliver(message, arrival - now)
        return arrival

    def run(self) -> bool:
        """Run until no event is left (True) or until `pause()` is called (False; `run` again to go on).

        Each turn of the loop is `simpy.Environment.step`, inlined. A pause takes effect
        between two events, when the whole simulation state is consistent: that is when a
        checkpoint may be taken. If an event raises (a diverged loss, an interrupt), the
        messages the PEs would have received before it are handed over first, so that the
        programs stand as they would have then.
        """
        self.paused = False
        env = self.env
        queue = env._queue
        current = None
        try:
            while not self.paused:
                if not queue:
                    return True
                current = heappop(queue)  # (cycle, priority, event id, event)
                env._now = current[0]
                event = current[3]
                callbacks, event.callbacks = event.callbacks, None
                for callback in callbacks:
                    callback(event)
                if not event._ok:
                    raise event._value
        except BaseException:
            if current is not None:
                for pe in self.pes.values():
                    pe.hand_over(current[0], current[2])
            raise
        return False

    def pause(self) -> None:
        """Stop `run` after the event being processed (called from an event's callback)."""
        self.paused = True
