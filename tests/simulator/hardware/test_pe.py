"""Tests for the processing element (wafersim.hardware.pe), its same-cycle decisions and its op costs."""

from __future__ import annotations

import random

import pytest
import simpy

from wafersim.config import HardwareConfig
from wafersim.hardware.chip import Chip
from wafersim.hardware.cost import op_cycles
from wafersim.records import Message
from wafersim.hardware.pe import PE


class Script:
    """A program that runs a message op ("M", cycles `reply_cycles`) when it holds a message, else its next scripted op."""

    def __init__(self, env, ops, reply_cycles=2, on_finish=None):
        self.env = env
        self.ops = list(ops)  # (kind, tag, cycles)
        self.reply_cycles = reply_cycles
        self.on_finish = on_finish or {}  # kind -> callback run when an op of that kind finishes
        self.inbox = []
        self.finished = []  # (kind, tag, cycle)
        self.asked = 0

    def receive(self, message):
        self.inbox.append(message)

    def start_next(self):
        self.asked += 1
        if self.inbox:
            kind, tag, cycles = "M", self.inbox.pop(0), self.reply_cycles
        elif self.ops:
            kind, tag, cycles = self.ops.pop(0)
        else:
            return None
        return kind, tag, cycles, lambda: self._finish(kind, tag)

    def _finish(self, kind, tag):
        self.finished.append((kind, tag, self.env.now))
        if kind in self.on_finish:
            self.on_finish[kind]()


class LocalScript(Script):
    """A Script whose receive only files the message (it reads no clock): its PE may hand messages over late."""

    local_receive = True


def bare_pe(ops, coord=(0, 0), local=False, **kw):
    env = simpy.Environment()
    trace = []
    program = (LocalScript if local else Script)(env, ops, **kw)
    return env, PE(env, coord, program, trace), program, trace


def run_counting(env, until=float("inf")) -> int:
    """Run the events of `env` before cycle `until` (by default, all); the number it ran."""
    events = 0
    while env.peek() < until:
        env.step()
        events += 1
    return events


def test_scripted_sequence_runs_back_to_back():
    env, pe, program, trace = bare_pe([("F", 0, 3), ("B", 0, 5), ("U", 0, 1)])
    pe.wake()
    env.run()
    assert trace == [((0, 0), "F", 0, 0, 3), ((0, 0), "B", 0, 3, 8), ((0, 0), "U", 0, 8, 9)]
    assert program.finished == [("F", 0, 3), ("B", 0, 8), ("U", 0, 9)]
    assert (pe.busy_cycles, pe.ops) == (9, 3)
    assert env.now == 9
    assert pe.busy is False


def test_message_while_busy_waits_for_the_current_op():
    env, pe, program, trace = bare_pe([("F", 0, 10)], reply_cycles=4)
    pe.wake()
    pe.deliver(7, 3)
    env.run()
    assert trace == [((0, 0), "F", 0, 0, 10), ((0, 0), "M", 7, 10, 14)]
    assert program.asked == 3
    assert pe.busy_cycles == 14


def test_message_to_an_idle_pe_starts_an_op_at_its_arrival():
    env, pe, program, trace = bare_pe([], reply_cycles=4)
    pe.wake()
    pe.deliver("x", 6)
    pe.deliver("y", 20)
    env.run()
    assert trace == [((0, 0), "M", "x", 6, 10), ((0, 0), "M", "y", 20, 24)]
    assert (pe.busy_cycles, pe.ops) == (8, 2)


def test_ops_never_overlap():
    env, pe, program, trace = bare_pe([("F", s, 3) for s in range(5)], reply_cycles=2)
    pe.wake()
    for t in (0, 1, 2, 4, 4, 9):
        pe.deliver(t, t)
    env.run()
    assert len(trace) == 11
    assert all(prev[4] <= cur[3] for prev, cur in zip(trace, trace[1:]))
    assert trace[-1][4] == pe.busy_cycles == 5 * 3 + 6 * 2


@pytest.mark.parametrize("local", [False, True])
@pytest.mark.parametrize("arrival_first", [False, True])
def test_freed_pe_sees_a_message_arriving_in_the_same_cycle(arrival_first, local):
    """The PE frees at cycle 5 and a message arrives at 5: in either queue order it runs the message first."""
    env, pe, program, trace = bare_pe([("F", 0, 5), ("F", 1, 5)], reply_cycles=2, local=local)
    if arrival_first:
        pe.deliver("m", 5)
        pe.wake()
    else:
        pe.wake()
        pe.deliver("m", 5)
    env.run()
    assert trace == [((0, 0), "F", 0, 0, 5), ((0, 0), "M", "m", 5, 7), ((0, 0), "F", 1, 7, 12)]


def test_message_one_cycle_later_comes_after_the_next_op():
    env, pe, program, trace = bare_pe([("F", 0, 5), ("F", 1, 5)], reply_cycles=2)
    pe.wake()
    pe.deliver("m", 6)
    env.run()
    assert trace == [((0, 0), "F", 0, 0, 5), ((0, 0), "F", 1, 5, 10), ((0, 0), "M", "m", 10, 12)]


def test_a_busy_pe_of_a_local_program_takes_messages_without_events():
    """Messages at 3 and 4 reach the PE while F runs over [0, 10): they wait in its inbox, take no
    event, and are handed over, in arrival order, when F ends; the ops are those of a program
    that sees each message on time, with two events fewer."""
    runs = {}
    for local in (False, True):
        env, pe, program, trace = bare_pe([("F", 0, 10)], reply_cycles=4, local=local)
        pe.wake()
        pe.deliver("b", 4)
        pe.deliver("a", 3)
        events = run_counting(env, until=9)
        held = (list(program.inbox), [m for _, _, m in sorted(pe.inbox)])
        events += run_counting(env)
        runs[local] = (trace, held, events, program.asked)
    assert runs[False][1] == (["a", "b"], [])  # on time: received at 3 and 4
    assert runs[True][1] == ([], ["a", "b"])  # late: still in the PE's inbox at cycle 9
    assert runs[True][0] == runs[False][0] == [
        ((0, 0), "F", 0, 0, 10), ((0, 0), "M", "a", 10, 14), ((0, 0), "M", "b", 14, 18)]
    assert runs[True][2] == runs[False][2] - 2
    assert runs[True][3] == runs[False][3]


def test_a_free_pe_of_a_local_program_decides_at_each_arrival():
    """Free from 0, the PE runs each message when it arrives; the one at 20 waits for the op it finds running."""
    env, pe, program, trace = bare_pe([], reply_cycles=4, local=True)
    pe.wake()
    for message, delay in (("y", 20), ("x", 6), ("z", 22)):
        pe.deliver(message, delay)
    env.run()
    assert trace == [((0, 0), "M", "x", 6, 10), ((0, 0), "M", "y", 20, 24), ((0, 0), "M", "z", 24, 28)]


def _random_case(seed):
    """Scripted ops and messages (several in a cycle) sent at the start and when ops finish."""
    rng = random.Random(seed)
    ops = [("F", i, rng.randint(1, 6)) for i in range(rng.randint(0, 6))]
    sends = [(f"m{i}", rng.randint(0, 25)) for i in range(rng.randint(1, 10))]
    later = [(f"f{i}", rng.randint(0, 4)) for i in range(rng.randint(0, 3))]  # sent as each F ends
    return ops, sends, later


@pytest.mark.parametrize("seed", range(40))
def test_local_and_on_time_programs_run_the_same_ops(seed):
    """Whatever the timing, a PE that hands messages over late makes the decisions of one that does not."""
    ops, sends, later = _random_case(seed)
    seen = {}
    for local in (False, True):
        env, pe, program, trace = bare_pe(list(ops), reply_cycles=3, local=local)
        program.on_finish = {"F": lambda: [pe.deliver(m, d) for m, d in later]}
        for message, delay in sends:
            pe.deliver(message, delay)
        pe.wake()
        env.run()
        seen[local] = (trace, program.finished, program.asked, pe.busy_cycles, env.now)
    assert seen[True] == seen[False]


def test_an_event_that_raises_leaves_the_program_with_the_messages_before_it():
    """F runs over [0, 10); messages reach the busy PE at 4 and 8, and an event at 6 raises: the
    program then holds the message of cycle 4, not that of cycle 8."""
    chip = Chip(HARDWARE)
    program = LocalScript(chip.env, [("F", 0, 10)])
    pe = chip.add_pe((0, 1), program)
    pe.wake()
    pe.deliver("early", 4)
    pe.deliver("late", 8)

    def fail(_event):
        raise RuntimeError("stop")

    chip.env.timeout(6).callbacks.append(fail)
    with pytest.raises(RuntimeError, match="stop"):
        chip.run()
    assert program.inbox == ["early"]
    assert [m for _, _, m in pe.inbox] == ["late"]


HARDWARE = HardwareConfig.model_validate({
    "name": "pe-test", "clock_hz": 1.0e9, "mesh": {"rows": 1, "cols": 2},
    "pe": {"macs_per_cycle": 8, "sram_bytes": 1 << 20, "op_overhead_cycles": 1},
    "noc": {"hop_latency_cycles": 1, "link_bytes_per_cycle": 16, "contention": False},
})


def test_chip_message_arriving_as_the_receiver_frees():
    """(0, 0) sends 16 bytes at cycle 3 (1 hop + 1 cycle: arrival 5) while (0, 1) runs an op from 0 to 5."""
    chip = Chip(HARDWARE)
    sender = Script(chip.env, [("F", 0, 3)],
                    on_finish={"F": lambda: chip.send((0, 0), (0, 1), 16, Message("act", 0, None))})
    receiver = Script(chip.env, [("X", 0, 5), ("Y", 0, 4)], reply_cycles=3)
    a = chip.add_pe((0, 0), sender)
    b = chip.add_pe((0, 1), receiver)
    b.wake()
    a.wake()
    chip.run()
    assert chip.trace == [
        ((0, 1), "X", 0, 0, 5),
        ((0, 0), "F", 0, 0, 3),
        ((0, 1), "M", Message("act", 0, None), 5, 8),
        ((0, 1), "Y", 0, 8, 12),
    ]
    assert chip.now == 12
    assert (a.busy_cycles, b.busy_cycles) == (3, 12)
    assert chip.messages == [((0, 0), (0, 1), 3, 5, 16, "act", 0)]
    assert chip.traffic == {"act": [1, 16, 16]}


def test_chip_counts_traffic_per_message_kind():
    """bytes x hops is bytes times the XY distance, summed per kind."""
    hw = HARDWARE.model_copy(update={"mesh": HARDWARE.mesh.model_copy(update={"rows": 3, "cols": 4})})
    chip = Chip(hw)
    for coord in ((0, 0), (2, 3), (1, 1)):
        chip.add_pe(coord, Script(chip.env, []))
    chip.send((0, 0), (2, 3), 100, Message("push", 1, None))
    chip.send((2, 3), (0, 0), 100, Message("weights", 1, None))
    chip.send((0, 0), (1, 1), 40, Message("push", 2, None))
    chip.run()
    assert chip.traffic == {"push": [2, 140, 100 * 5 + 40 * 2], "weights": [1, 100, 500]}


def test_chip_rejects_a_second_program_or_a_pe_outside_the_mesh():
    chip = Chip(HARDWARE)
    chip.add_pe((0, 0), Script(chip.env, []))
    with pytest.raises(ValueError, match="already runs a program"):
        chip.add_pe((0, 0), Script(chip.env, []))
    with pytest.raises(ValueError, match="outside the 1x2 mesh"):
        chip.add_pe((1, 0), Script(chip.env, []))


def test_chip_without_trace():
    chip = Chip(HARDWARE, trace=False)
    pe = chip.add_pe((0, 0), Script(chip.env, [("F", 0, 4)]))
    pe.wake()
    chip.run()
    assert chip.trace is None and chip.messages is None
    assert pe.busy_cycles == 4


@pytest.mark.parametrize("macs, per_cycle, overhead, cycles", [
    (0, 64, 4, 4), (1, 64, 4, 5), (64, 64, 4, 5), (65, 64, 4, 6), (128, 64, 0, 2), (8192, 64, 4, 132), (7, 1, 3, 10),
])
def test_op_cycles_closed_form(macs, per_cycle, overhead, cycles):
    assert op_cycles(macs, per_cycle, overhead) == cycles
    assert cycles == -(-macs // per_cycle) + overhead


def test_chip_op_cycles_uses_the_hardware():
    assert Chip(HARDWARE).op_cycles(17) == 3 + 1
