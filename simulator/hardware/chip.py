"""The simulated chip: one SimPy environment, a mesh, its network and the PEs in use."""

from __future__ import annotations

from typing import TYPE_CHECKING

import simpy

from ..records import Message, MessageRecord, record
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

    def send(self, src: Coord, dst: Coord, nbytes: int, message: Message) -> int:
        """Send `message` of `nbytes` from src to the PE at dst; return the arrival cycle.

        Traffic is counted per message kind, and the trace logs the tag.
        """
        now = self.env.now
        network = self.network
        route = network.route(src, dst)
        arrival = network.transit_on(route, nbytes, now)
        kind = message.kind
        counts = self.traffic.get(kind)
        if counts is None:
            counts = self.traffic[kind] = [0, 0, 0]
        counts[0] += 1
        counts[1] += nbytes
        counts[2] += nbytes * len(route)
        if self.messages is not None:
            self.messages.append(record(MessageRecord, src, dst, now, arrival, nbytes, kind, message.tag))
        self.pes[dst].deliver(message, arrival - now)
        return arrival

    def run(self) -> bool:
        """Run until no event is left (True) or until `pause()` is called (False; `run` again to go on).

        A pause takes effect between two events, when the whole simulation state is
        consistent: that is when a checkpoint may be taken.
        """
        self.paused = False
        step = self.env.step
        try:
            while not self.paused:
                step()
        except simpy.core.EmptySchedule:
            return True
        return False

    def pause(self) -> None:
        """Stop `run` after the event being processed (called from an event's callback)."""
        self.paused = True
