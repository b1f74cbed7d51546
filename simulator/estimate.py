"""What a run will cost the host before it starts: memory and time, estimated from the scenario's layout.

The figures are deliberately rough upper estimates (within a small factor), good enough
to refuse a run that cannot fit in this machine's memory before any simulation time is
spent, and to tell a user roughly how long to wait. Constants are measured on the
development machine (DESIGN section 9): about 4 us of host time per simulated event (an
op or a message), about 330 bytes per op or message kept for the results tables, and
about 2e9 multiply-accumulates per second of kernel arithmetic. The compiled engine
(`wafersim.engine`) keeps its logs as integer arrays (about 130 bytes per op or message with
a trace, about 30 per op without, for the replay) and spends about 0.4 us per event.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from .algorithms import ALLREDUCE
from .layers import param_bytes
from .regions import extent

SECONDS_PER_EVENT = 4e-6
MACS_PER_SECOND = 2e9
BYTES_PER_RECORD = 330  # an op or message record in the trace, plus its row in the saved table
BYTES_PER_PE = 30_000  # a program's Python objects, queues and counters
COMPILED_SECONDS_PER_EVENT = 4e-7
COMPILED_BYTES_PER_RECORD = 130  # an op or message in the compiled logs, plus its row in the saved table
COMPILED_BYTES_PER_OP = 30  # an op's row in the replay's log (layer, kind, tag, aux, step coefficient)
COMPILED_BYTES_PER_HELD = 40  # one sample a layer may hold, in the compiled pass's rings
COMPILED_BYTES_PER_PE = 40  # a layer's counters in the compiled pass
# A block of a layer region on the compiled engine: its layout, wiring and plan objects, the pass's row
# and queues, its views and metrics rows (measured: 3.0 GB for 610,000 blocks), and the setup they take.
REGION_BYTES_PER_BLOCK = 4_500
REGION_SECONDS_PER_BLOCK = 5e-5
REGION_BYTES_PER_LINK = 64  # the region pass keeps a row of counters for every link the regions span
BASE_BYTES = 250 << 20  # the interpreter with numpy, numba, simpy, matplotlib loaded
MEMORY_SHARE = 0.8  # refuse a run estimated to need more than this share of the memory available


@dataclass(frozen=True)
class Estimate:
    """The host memory and time a run is expected to need."""

    host_bytes: int
    parts: dict[str, int]  # bytes by purpose
    events: int  # ops plus messages
    seconds: float

    def describe(self) -> str:
        parts = ", ".join(f"{name} {_size(b)}" for name, b in self.parts.items() if b)
        return (f"about {_size(self.host_bytes)} of host memory ({parts}) and {_duration(self.seconds)} "
                f"for {self.events:,} simulated events")


def _size(nbytes: float) -> str:
    for unit, scale in (("GB", 1 << 30), ("MB", 1 << 20), ("KB", 1 << 10)):
        if nbytes >= scale:
            return f"{nbytes / scale:,.1f} {unit}"
    return f"{int(nbytes)} bytes"


def _duration(seconds: float) -> str:
    if seconds >= 3600:
        return f"{seconds / 3600:,.1f} h"
    if seconds >= 60:
        return f"{seconds / 60:.0f} min"
    return f"{max(seconds, 1):.0f} s"


def available_memory() -> int | None:
    """Bytes of memory available to a new process (MemAvailable), or None if unknown."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def estimate(scenario, layout, data, trace: bool = True, compiled: bool = False) -> Estimate:
    """The memory and time of running `scenario` on `layout` over `data` (a loaded Dataset),
    keeping the op and message logs (`trace`), on the compiled engine or the event engine."""
    t = scenario.training
    n = layout.n_samples
    D = scenario.n_layers
    shapes = [p.shape for p in layout.worker(1)]
    if t.spec.data_parallel:
        updates = sum(len(s.batches) for s in layout.schedules)  # one per minibatch of every worker
    else:
        updates = layout.schedules[0].updates()
    n_workers = len(layout.schedules)
    # Per update and layer a few exchange messages (push, pull, weights, ring chunks).
    exchange = updates * D * (4 + 3 * max(0, n_workers - 1)) if t.spec.data_parallel else 0
    ops = n * 2 * D + updates * D  # F and B of every sample on every layer, one U per update and layer
    if t.spec.family == ALLREDUCE:
        ops += updates * D * (n_workers - 1)  # and N - 1 R ops
    messages = n * 2 * D + exchange  # activations, deltas and labels: 2D per sample
    extra_ops, extra_messages = layout.schedules[0].side_traffic()  # per sample: dni's G, T and their messages
    ops += n * extra_ops
    messages += n * extra_messages
    if layout.regions is not None:  # every block of every region: its F, B, U and sums, and what it receives
        ops, messages = region_traffic(layout, n, updates)
        shapes = [p.shape for p in layout.placed]
    events = ops + messages
    macs = sum(n * (s.forward_macs() + s.backward_macs(True)) + updates * s.param_count * 4 for s in shapes)
    arithmetic = not scenario.timing_only
    arrays = sum(p.memory.total + param_bytes(p.shape) for p in layout.placed) if arithmetic else 0
    setup = 0.0
    if compiled:
        if layout.regions is not None:
            rows, cols = extent(layout.regions)  # the links the region pass keeps, with the port's column
            programs = len(layout.placed) * REGION_BYTES_PER_BLOCK + rows * (cols + 1) * 4 * REGION_BYTES_PER_LINK
            setup = len(layout.placed) * REGION_SECONDS_PER_BLOCK
        else:
            held = sum(min(schedule.window(k), n) + 1 for schedule in layout.schedules for k in range(1, D + 1))
            if n_workers > 1:
                held += len(layout.placed) * (4 * n_workers + 4)  # every PE's ring of chunks on their way
            programs = len(layout.placed) * COMPILED_BYTES_PER_PE + held * COMPILED_BYTES_PER_HELD
        logs = events * COMPILED_BYTES_PER_RECORD if trace else ops * COMPILED_BYTES_PER_OP if arithmetic else 0
        per_event = COMPILED_SECONDS_PER_EVENT
    else:
        programs = len(layout.placed) * BYTES_PER_PE
        logs = events * BYTES_PER_RECORD if trace else 0
        per_event = SECONDS_PER_EVENT
    parts = {
        "interpreter": BASE_BYTES,
        "data": int(data.X_train.nbytes + data.X_test.nbytes + data.y_train.nbytes + data.y_test.nbytes) + 16 * n,
        "PEs": programs + arrays,
        "op and message trace": logs,
    }
    seconds = events * per_event + (macs / MACS_PER_SECOND if arithmetic else 0.0) + setup
    return Estimate(sum(parts.values()), parts, events, seconds)


def region_traffic(layout, n: int, updates: int) -> tuple[int, int]:
    """(ops, message records) of a run on layer regions: per sample, each block's F and B and its steps
    on its row's and column's trees (op A, where it has children); per update its U. Each block receives
    its input pieces, a subtotal from each child, a block off its row's end a dz, and a row's end the
    delta pieces (a multicast is one record per destination)."""
    ops = messages = 0
    for p in layout.placed:
        s = p.shape
        sums = bool(s.row_sum_macs()) + bool(s.column_sum_macs())
        heard = s.row_children + (0 if s.first else s.column_children)
        ops += n * (2 + sums) + updates
        messages += n * (1 + heard + (0 if s.row_end else 1) + (s.row_end and not s.top))
    return ops, messages


def too_large(est: Estimate) -> str | None:
    """Why the run cannot fit in this machine's memory, or None."""
    available = available_memory()
    if available is None or est.host_bytes <= MEMORY_SHARE * available:
        return None
    return f"the run needs {est.describe()}, but this machine has {_size(available)} available"
