"""The simulated chip: one SimPy environment, a mesh, its network and the PEs in use."""

from __future__ import annotations

from heapq import heappop
from typing import TYPE_CHECKING

import simpy

from ..records import Message, MessageRecord, new_record
from .cost import op_cycles
from .link import Network, Tree, Wire
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
        self._wires: dict[tuple[Coord, Coord, int], Wire] = {}  # (src, dst, nbytes) -> its wire, for `send`

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

    def channel(self, src: Coord, dst: Coord, kind: str, nbytes: int) -> Channel:
        """The channel for messages of `kind` and `nbytes` from src to the PE at dst (see `Channel`)."""
        return Channel(self, src, dst, kind, nbytes)

    def multicast(self, src: Coord, dsts: list[Coord], kind: str, nbytes: int) -> Multicast:
        """The channel for messages of `kind` and `nbytes` from src to every PE of dsts at once (see `Multicast`)."""
        return Multicast(self, src, dsts, kind, nbytes)

    def send(self, src: Coord, dst: Coord, nbytes: int, message: Message) -> int:
        """Send `message` of `nbytes` from src to the PE at dst; return the arrival cycle.

        Traffic is counted per message kind, and the trace logs the tag.
        """
        wire = self._wires.get((src, dst, nbytes))
        if wire is None:
            wire = self._wires[(src, dst, nbytes)] = self.network.wire(src, dst, nbytes)
        now = self.env._now
        arrival = wire.transit(now)
        counts = self.traffic.get(message[0])
        if counts is None:
            counts = self.traffic[message[0]] = [0, 0, 0]
        counts[0] += 1
        counts[1] += nbytes
        counts[2] += wire.byte_hops
        if self.messages is not None:
            self.messages.append(new_record(MessageRecord, (src, dst, now, arrival, nbytes, message[0], message[1])))
        self.pes[dst].deliver(message, arrival - now)
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
                try:
                    current = heappop(queue)  # (cycle, priority, event id, event)
                except IndexError:  # no event left (cheaper than testing the queue before every event)
                    return True
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


class Channel:
    """One sender's stream of messages of one kind and size to one PE: everything `Chip.send`
    works out per message (route, serialisation, traffic row, receiving PE) looked up once.

    `send(tag, payload)` is `chip.send(src, dst, nbytes, Message(kind, tag, payload))`,
    counted the same way. The traffic row of the kind is made at the first send, so a
    channel that never sends leaves no row.
    """

    __slots__ = ("chip", "src", "dst", "kind", "nbytes", "wire", "pe", "counts")

    def __init__(self, chip: Chip, src: Coord, dst: Coord, kind: str, nbytes: int):
        self.chip, self.src, self.dst, self.kind, self.nbytes = chip, src, dst, kind, nbytes
        self.wire = chip.network.wire(src, dst, nbytes)
        self.pe = chip.pes[dst]
        self.counts: list[int] | None = None  # chip.traffic[kind]

    def send(self, tag: int, payload) -> int:
        """Send the message (kind, tag, payload); return its arrival cycle."""
        chip = self.chip
        now = chip.env._now
        arrival = self.wire.transit(now)
        counts = self.counts
        if counts is None:
            counts = self.counts = chip.traffic.setdefault(self.kind, [0, 0, 0])
        counts[0] += 1
        counts[1] += self.nbytes
        counts[2] += self.wire.byte_hops
        if chip.messages is not None:
            chip.messages.append(new_record(MessageRecord, (self.src, self.dst, now, arrival, self.nbytes, self.kind, tag)))
        self.pe.deliver_at(new_record(Message, (self.kind, tag, payload)), arrival)
        return arrival


class Multicast:
    """One sender's stream of messages of one kind and size to several PEs at once: the routers copy
    the message where the routes part (`link.Tree`), so every link of the tree carries it once.

    `send(tag, payload)` delivers (kind, tag, payload) to every destination and counts it as one
    message of `nbytes` in the traffic (its byte-hops are the tree's); the trace logs one row per
    destination.
    """

    __slots__ = ("chip", "src", "dsts", "kind", "nbytes", "tree", "pes", "counts")

    def __init__(self, chip: Chip, src: Coord, dsts: list[Coord], kind: str, nbytes: int):
        self.chip, self.src, self.dsts, self.kind, self.nbytes = chip, src, list(dsts), kind, nbytes
        network = chip.network
        self.tree = Tree(network, [network.route(src, dst) for dst in self.dsts], nbytes)
        self.pes = [chip.pes[dst] for dst in self.dsts]
        self.counts: list[int] | None = None

    def send(self, tag: int, payload) -> None:
        chip = self.chip
        now = chip.env._now
        arrivals = self.tree.transit(now)
        counts = self.counts
        if counts is None:
            counts = self.counts = chip.traffic.setdefault(self.kind, [0, 0, 0])
        counts[0] += 1
        counts[1] += self.nbytes
        counts[2] += self.tree.byte_hops
        message = new_record(Message, (self.kind, tag, payload))
        for dst, pe, arrival in zip(self.dsts, self.pes, arrivals):
            if chip.messages is not None:
                chip.messages.append(new_record(MessageRecord, (self.src, dst, now, arrival, self.nbytes, self.kind,
                                                                tag)))
            pe.deliver_at(message, arrival)
