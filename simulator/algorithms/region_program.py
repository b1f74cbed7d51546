"""The program of one PE of a layer region: its block's F, B and U, the region's tree sums (op A), and every piece a message.

A layer on an R x C region (`layers.block`) runs as R * C of these programs. Per sample:

    x   pieces of the input reach every PE of column c at once (a multicast, from the layer
        below's row ends or the port): the PE assembles x_c, then its F computes p_rc;
    p   the row adds its partials along a reduction tree (`reduction`): a leaf sends p_rc to
        its parent; a block with children waits for their subtotals and its own F, adds them
        (op A) and sends the sum to its parent; the row's end (r, C-1), the root, applies phi
        too: h_r, whose pieces go to the layer above (x). The order of the sums is fixed;
    e   pieces of dL/dh_r reach the row's end; its B computes dz_r and multicasts it to the
        row's other blocks (d); each block's B keeps dz_r x_c^T and computes q_rc;
    q   the column adds its partial deltas along its tree likewise (op A); at the column's
        end (R-1, c) the sum is dL/dx_c, whose pieces go to the layer below's row ends (e).

A block's sum is ready about log2(C) tree steps after the partials (a chain would take C-1,
each step waiting for the op in progress on its block); a block has at most log2 of its
row's blocks children, and holds a window of their subtotals. A block on a one-block row
or column sends nothing to itself: its F or B does what A would. Each PE keeps its
own window, weight version, stash and update group as a `LayerProgram` does (the
schedule's rules, per PE), so under CP a block updates after each of its backwards. The
top layer's region has one row (its softmax reads every logit).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Callable

import numpy as np

from ..hardware.mesh import Coord
from ..layers import FLOAT_BYTES
from ..records import Op, new_record
from .pipeline import LayerProgram, _nothing


def sum_op_cycles(shape, cycles: Callable[[int], int]) -> tuple[int, int]:
    """The cycles of a block's A on its row's tree and on its column's (`cycles` of their MACs), 0 where
    it adds nothing there (it runs no such op)."""
    return tuple(cycles(macs) if macs else 0 for macs in (shape.row_sum_macs(), shape.column_sum_macs()))


@dataclass(frozen=True)
class Route:
    """One piece a PE sends per sample: floats [start, stop) of its vector, at once (multicast) to every PE
    of `dsts`, where it lands at `offset`."""

    start: int
    stop: int
    dsts: tuple[Coord, ...]
    offset: int


@dataclass(frozen=True)
class Wiring:
    """Where a block of a region sends and from how many PEs it hears, per sample."""

    coord: Coord  # the PE's own
    r: int
    c: int
    x_pieces: int  # pieces its input x_c arrives in
    e_pieces: int  # pieces dL/dh_r arrives in (row ends; 0 elsewhere)
    row_next: Coord  # its parent on its row's tree, where its sum goes (its own at the row's end)
    column_next: Coord  # its parent on its column's tree (its own at the column's end)
    row_slot: int  # where its sum lands among the parent's parts (`reduction.slot`)
    column_slot: int
    row_peers: tuple[Coord, ...]  # at a row's end, the row's other blocks (its dz goes to them, one multicast); else ()
    out_routes: tuple[Route, ...]  # the row end's h_r pieces to the layer above
    back_routes: tuple[Route, ...]  # the column end's dL/dx_c pieces to the layer below
    reports: bool  # this PE's updates count the samples trained and its staleness is the layer's


class BlockProgram(LayerProgram):
    """One PE of a layer region: a `LayerProgram` whose F, B and A work on its block and whose messages are pieces."""

    def __init__(self, *, wiring: Wiring, **args):
        super().__init__(**args)
        w, shape = wiring, self.shape
        self.wiring = w
        self.coord = w.coord  # (LayerProgram takes the layer's reporting PE's)
        self.row_end, self.column_end = shape.row_end, shape.column_end
        self.row_start, self.column_start = shape.row_start, shape.column_start
        self.top = self.top and self.row_end  # the top layer's other blocks wait for no label and compute no loss
        self.C, self.R = shape.row_blocks, shape.column_blocks
        self.counts_trained = self.k == 1 and w.reports
        if not w.reports:
            self.staleness = []  # its own; the layer's histogram is its reporting PE's
        self.arith = hasattr(self.layer, "partial")  # False in a timing-only run: every payload is None
        self.cycles_A_row, self.cycles_A_col = sum_op_cycles(shape, self.chip.op_cycles)
        self.assembling: dict[int, list] = {}  # sample -> [x_c buffer, pieces still to come]
        self.deltas_in: dict[int, list] = {}  # sample -> [dL/dh_r buffer, pieces still to come] (row ends)
        self.row_parts: dict[int, list] = {}  # sample -> [its children's subtotals..., its own partial, count]
        self.col_parts: dict[int, list] = {}  # sample -> the same of partial deltas
        self.sums: deque = deque()  # ("row" | "col", sample) whose parts are all in: an A may run
        self.channels: dict = {}  # (dst, kind, floats) -> its chip channel
        self.local_receive = True  # receive only files messages in this program's own state
        self._pickers = [self._pick_update, self._pick_sum, self._pick_forward, self._pick_backward]
        if "start_next" in self.__dict__:  # LayerProgram's inlined default picker knows nothing of A
            del self.start_next
        self.row_bytes = shape.n_out * FLOAT_BYTES
        self.col_bytes = shape.n_in * FLOAT_BYTES

    # -- messages --------------------------------------------------------------------------
    def receive(self, message) -> None:
        kind, sample, payload = message
        if kind == "x":
            self._piece(self.assembling, sample, payload, self.shape.n_in, self.wiring.x_pieces, self.inputs.append)
        elif kind == "e":
            self._piece(self.deltas_in, sample, payload, self.shape.n_out, self.wiring.e_pieces, self.deltas.append)
        elif kind == "d":
            self.sram.alloc(self.row_bytes)
            self.deltas.append((sample, payload))
        elif kind == "p":
            self.sram.alloc(self.row_bytes)
            self._part(self.row_parts, "row", sample, *payload)
        elif kind == "q":
            self.sram.alloc(self.col_bytes)
            self._part(self.col_parts, "col", sample, *payload)
        else:
            self.labels[sample] = payload

    def _piece(self, pending: dict, sample: int, payload, floats: int, pieces: int, ready) -> None:
        """File one piece (offset, values) of a vector; hand the whole (sample, vector) to `ready` when it is in."""
        entry = pending.get(sample)
        if entry is None:
            self.sram.alloc(floats * FLOAT_BYTES)
            entry = pending[sample] = [np.empty(floats, np.float32) if self.arith else None, pieces]
        offset, values = payload
        if self.arith:
            entry[0][offset:offset + len(values)] = values
        entry[1] -= 1
        if entry[1] == 0:
            del pending[sample]
            ready((sample, entry[0]))

    def _part(self, parts: dict, which: str, sample: int, index: int, values) -> None:
        """File part `index` of a tree step (its children's subtotals 0.., its own partial last); once all
        are in, the sum may run (op A)."""
        n = 1 + (self.shape.row_children if which == "row" else self.shape.column_children)
        slots = parts.get(sample)
        if slots is None:
            slots = parts[sample] = [None] * n + [0]
        slots[index] = values
        slots[-1] += 1
        if slots[-1] == n:
            self.sums.append((which, sample))

    def _send(self, dsts: tuple[Coord, ...], kind: str, floats: int, sample: int, payload) -> None:
        """One message to the PEs of dsts (a multicast if there are several)."""
        key = (dsts, kind, floats)
        channel = self.channels.get(key)
        if channel is None:
            nbytes = floats * FLOAT_BYTES
            channel = self.channels[key] = (self.chip.channel(self.coord, dsts[0], kind, nbytes) if len(dsts) == 1
                                            else self.chip.multicast(self.coord, dsts, kind, nbytes))
        channel.send(sample, payload)

    def _send_pieces(self, routes, kind: str, sample: int, vector) -> None:
        for route in routes:
            values = None if vector is None else vector[route.start:route.stop]
            self._send(route.dsts, kind, route.stop - route.start, sample, (route.offset, values))

    # -- choosing the next op ------------------------------------------------------------------
    def _pick_sum(self) -> Op | None:
        return self.sum() if self.sums else None

    # -- F -------------------------------------------------------------------------------------
    def forward(self) -> Op:
        sample, x = self.inputs.popleft()
        p = self.layer.partial(x) if self.arith else None
        self.held[sample] = (x, None, self.version)
        if len(self.held) > self.max_in_flight:
            self.max_in_flight = len(self.held)
        if self.anchored:
            self.stash.hold(self.version)
        if self.counts_trained:
            self.port.send_next()
        if self.C == 1:  # the whole row here: p is h_r (or the logits)
            return new_record(Op, ("F", sample, self.cycles_F, self._output(sample, p)))
        if not self.row_start:  # it waits for its children's subtotals too
            self.sram.alloc(self.row_bytes)
            self._part(self.row_parts, "row", sample, self.shape.row_children, p)
            return new_record(Op, ("F", sample, self.cycles_F, _nothing))
        after, n, part = (self.wiring.row_next,), self.shape.n_out, (self.wiring.row_slot, p)
        return new_record(Op, ("F", sample, self.cycles_F, lambda: self._send(after, "p", n, sample, part)))

    def _output(self, sample: int, h):
        """Hold the row's output h_r (the top layer: dL/dz from the loss) and return the op's finish, which sends it on."""
        x, _, version = self.held[sample]
        if self.top:
            if self.arith:
                h, loss = self.layer.loss(h, self.labels.pop(sample))
                self.recorder.loss(sample, loss, self.chip.now)
            else:
                self.labels.pop(sample)
        self.held[sample] = (x, h, version)
        self.sram.alloc(self.row_bytes)
        if self.top:
            return lambda: self.deltas.append((sample, None))
        return lambda: self._send_pieces(self.wiring.out_routes, "x", sample, h)

    # -- A: a step of a row's or a column's tree --------------------------------------------------
    def sum(self) -> Op:
        which, sample = self.sums.popleft()
        w = self.wiring
        if which == "row":
            parts = self.row_parts.pop(sample)[:-1]
            h = self.layer.row_sum(parts) if self.arith else None
            self.sram.free(len(parts) * self.row_bytes)
            if self.row_end:
                return new_record(Op, ("A", sample, self.cycles_A_row, self._output(sample, h)))
            after, n = (w.row_next,), self.shape.n_out
            return new_record(Op, ("A", sample, self.cycles_A_row,
                                   lambda: self._send(after, "p", n, sample, (w.row_slot, h))))
        parts = self.col_parts.pop(sample)[:-1]
        delta = self.layer.column_sum(parts) if self.arith else None
        self.sram.free(len(parts) * self.col_bytes)
        if self.column_end:
            routes = w.back_routes
            return new_record(Op, ("A", sample, self.cycles_A_col,
                                   lambda: self._send_pieces(routes, "e", sample, delta)))
        after, n = (w.column_next,), self.shape.n_in
        return new_record(Op, ("A", sample, self.cycles_A_col,
                               lambda: self._send(after, "q", n, sample, (w.column_slot, delta))))

    # -- B ---------------------------------------------------------------------------------------
    def backward(self) -> Op:
        sample, e = self.deltas.popleft()
        x, h, version = self.held.pop(sample)
        stashed = self.stashed(version) if self.anchored else None
        freed = self.col_bytes + self.row_bytes  # x_c, and h_r (row ends) or dz_r (the others)
        if self.row_end:
            dz = h if self.top else (self.layer.dz(h, e) if self.arith else None)
            if not self.top:
                freed += self.row_bytes  # dL/dh_r as it arrived
        else:
            dz = e
        q = self.layer.backward(x, dz, stashed) if self.arith else None
        if self.anchored:
            self.release(version)
        self.sram.free(freed)
        self.group.append(version)
        self.group_last = sample
        ends_group = self.schedule.ends_group(sample)
        w = self.wiring
        sends = []
        if self.row_end and self.C > 1:
            sends.append(lambda: self._send(w.row_peers, "d", self.shape.n_out, sample, dz))
        if not self.shape.first:
            if self.R == 1:
                sends.append(lambda: self._send_pieces(w.back_routes, "e", sample, q))
            elif not self.column_start:  # it waits for its children's subtotals too
                self.sram.alloc(self.col_bytes)
                self._part(self.col_parts, "col", sample, self.shape.column_children, q)
            else:
                sends.append(lambda: self._send((w.column_next,), "q", self.shape.n_in, sample, (w.column_slot, q)))

        def finish():
            for send in sends:
                send()
            if ends_group:
                self.gradient_ready()

        return new_record(Op, ("B", sample, self.cycles_B, finish))

    def stats(self) -> dict:
        stats = super().stats()
        if self.cycles_A_row or self.cycles_A_col:
            stats["op_cycles"]["A"] = self.cycles_A_row + self.cycles_A_col
        return stats
