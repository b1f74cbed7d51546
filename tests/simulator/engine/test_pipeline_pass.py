"""The compiled timing pass on a case small enough to derive by hand, and its cut at an op."""

from __future__ import annotations

import numpy as np
import pytest

from tests.builders import in_steps, make, scenario_dict
from wafersim import runner
from wafersim.engine.pipeline_pass import AUX_KEEP, AUX_RELEASE, AUX_STASHED, COUNT_SHIFT, DONE, STOPPED
from wafersim.engine.timing import TimingPlan


def plan_of(**training) -> TimingPlan:
    scenario = make(scenario_dict(**training))
    return TimingPlan.of(scenario, runner.prepare(scenario, "test").layout)


def ops_of(timeline) -> list[tuple]:
    return [("FBU-R"[k], int(l) + 1, int(s), int(a), int(b))
            for k, l, s, a, b in zip(timeline.op_kind, timeline.op_layer, timeline.op_tag, timeline.op_start,
                                     timeline.op_end)]


def test_two_layer_cp_trace():
    """CP, layers 4-4-3 on PEs (0,0) and (0,1), two samples; every op takes 5 cycles and every
    message 1 cycle (uniform hardware); windows 3 (layer 1) and 1 (layer 2).

    The port sends x0 and y0 at cycle 0 (both arrive at 1) and x1 when layer 1 takes x0 in.
    F1(0) runs 1-6 and F1(1) 6-11 (window 3). Layer 2 gets x0 at 7: F2(0) 7-12 computes the
    loss and dL/dz. At 12 x1 has arrived, but layer 2 holds sample 0 and its window is 1, so
    B2(0) runs 12-17; its delta reaches layer 1 at 18. U2(0) comes first at 17 (U before F),
    then F2(1) at 22, B2(1) at 27, U2(1) at 32; layer 1 back-propagates at 18 and 33 and
    applies each update right after (23, 38).
    """
    timeline = plan_of(layers=(4, 4, 3), samples=2).run()
    assert timeline.status == DONE
    assert ops_of(timeline) == [
        ("F", 1, 0, 1, 6), ("F", 1, 1, 6, 11), ("F", 2, 0, 7, 12), ("B", 2, 0, 12, 17), ("U", 2, 0, 17, 22),
        ("B", 1, 0, 18, 23), ("F", 2, 1, 22, 27), ("U", 1, 0, 23, 28), ("B", 2, 1, 27, 32), ("U", 2, 1, 32, 37),
        ("B", 1, 1, 33, 38), ("U", 1, 1, 38, 43)]
    # src, dst (layer index, -1 the port), sent, arrival, bytes, kind (x 0, e 1, y 2), sample
    assert timeline.messages.T.tolist() == [
        [-1, 0, 0, 1, 16, 0, 0], [-1, 1, 0, 1, 4, 2, 0], [-1, 0, 1, 2, 16, 0, 1], [-1, 1, 1, 2, 4, 2, 1],
        [0, 1, 6, 7, 16, 0, 0], [0, 1, 11, 12, 16, 0, 1], [1, 0, 17, 18, 16, 1, 0], [1, 0, 32, 33, 16, 1, 1]]
    assert timeline.now == 43 and timeline.samples_trained == 2
    assert timeline.op_aux[timeline.op_kind == 2].tolist() == [1 << COUNT_SHIFT] * 4  # one sample per gradient
    # Each B is followed by its layer's U, 1 op later for layer 2's (ops 3 -> 4, 8 -> 9) and 2 for layer 1's.
    assert (timeline.op_aux[timeline.op_kind == 1] >> COUNT_SHIFT).tolist() == [1, 2, 1, 1]


def test_cut_at_an_op_is_a_prefix():
    """Stopped before op i, the pass has exactly the first i ops of the full pass, at the cycle op i starts."""
    plan = plan_of(samples=25)
    full = plan.run()
    for i in (0, 1, 7, 40, full.n_ops - 1):
        cut = plan.run(max_ops=i)
        assert cut.status == STOPPED and cut.n_ops == i
        assert ops_of(cut) == ops_of(full)[:i]
        assert cut.now == full.op_start[i]
        assert int(cut.busy_cycles.sum()) == int((full.op_end[:i] - full.op_start[:i]).sum())


def test_two_worker_all_reduce_trace():
    """All-reduce, one 4-3 layer on two workers (PEs 0 and 1 at (0,0) and (0,1)), batch 1, one
    sample each: the 15 parameters are cut into chunks of 7 and 8 floats (28 and 32 bytes).

    Both ports send at 0 (arrivals at 1): F 1-6 and B 6-11 on each PE (the top layer needs no
    delta). At 11 each sends its own chunk (PE 0 chunk 0, PE 1 chunk 1), due at 12. PE 1's
    comes first in the event order (PE 0 sent first), so PE 1's R (adding chunk 0) starts
    first, 12-17; the ring of two is then complete: each passes its summed chunk on at 17,
    PE 1 first, and at 18 each takes the other's finished chunk (all-gather, no op) and
    applies the sum of both samples (U 18-23, count 2).
    """
    timeline = plan_of(layers=(4, 3), algorithm="allreduce", workers=2, samples=2).run()
    assert timeline.status == DONE
    assert ops_of(timeline) == [
        ("F", 1, 0, 1, 6), ("F", 2, 1, 1, 6), ("B", 1, 0, 6, 11), ("B", 2, 1, 6, 11),
        ("R", 2, 0, 12, 17), ("R", 1, 0, 12, 17), ("U", 1, 0, 18, 23), ("U", 2, 1, 18, 23)]
    assert timeline.messages.T.tolist() == [
        [-1, 0, 0, 1, 16, 0, 0], [-1, 0, 0, 1, 4, 2, 0], [-1, 1, 0, 1, 16, 0, 1], [-1, 1, 0, 1, 4, 2, 1],
        [0, 1, 11, 12, 28, 6, 1], [1, 0, 11, 12, 32, 6, 2], [1, 0, 17, 18, 28, 6, 2], [0, 1, 17, 18, 32, 6, 1]]
    assert timeline.op_aux[timeline.op_kind == 2].tolist() == [2 << COUNT_SHIFT] * 2
    assert timeline.reduce_ops.tolist() == [1, 1] and timeline.samples_trained == 2 and timeline.now == 23


def test_all_reduce_cut_at_an_op_is_a_prefix():
    plan = plan_of(layers=(6, 5, 3), algorithm="allreduce", workers=3, batch_size=2, samples=24)
    full = plan.run()
    assert int((full.op_kind == 4).sum()) == 2 * 3 * 2 * 4  # N-1 R per PE and update: 6 PEs, 4 updates
    for i in (0, 5, 33, full.n_ops - 1):
        cut = plan.run(max_ops=i)
        assert cut.status == STOPPED and ops_of(cut) == ops_of(full)[:i] and cut.now == full.op_start[i]


def test_anchored_stash_bits():
    """Anchored CP on three layers: a U copies the weights iff a held sample was forwarded with
    them; each copy is read by the backwards of those samples and dropped by the last of them.
    Layer 1 reads no weights in its backward and the top layer (window 1) never holds a sample
    across an update, so only layer 2 stashes."""
    timeline = plan_of(samples=30, delta_rule="anchored").run()
    kind, layer, aux = timeline.op_kind, timeline.op_layer, timeline.op_aux
    for k in range(3):
        here = layer == k
        keeps = int(((aux & AUX_KEEP) > 0)[here & (kind == 2)].sum())
        releases = int(((aux & AUX_RELEASE) > 0)[here & (kind == 1)].sum())
        assert keeps == releases  # every copy made is dropped by the end
        if k != 1:
            assert keeps == 0
        else:
            assert keeps > 0 and int(((aux & AUX_STASHED) > 0)[here & (kind == 1)].sum()) >= keeps


def test_no_times_without_a_trace():
    """Without record_times the pass keeps no start/end cycles and no message log, only counters."""
    plan = plan_of(samples=10)
    bare = plan.run(record_ops=False, record_times=False)
    full = plan.run()
    assert bare.op_kind.size == 0 and bare.messages.shape == (7, 0)
    assert bare.now == full.now
    assert np.array_equal(bare.busy_cycles, full.busy_cycles) and np.array_equal(bare.stale_value, full.stale_value)


@pytest.mark.parametrize("training", [{"algorithm": "cp", "delta_rule": "anchored"}, {"algorithm": "mbgd", "batch_size": 3},
                                      {"algorithm": "allreduce", "workers": 3, "batch_size": 2}],
                         ids=lambda t: t["algorithm"])
@pytest.mark.parametrize("chunk", [1, 7, 100])
def test_a_pass_in_steps_is_the_whole_pass(training, chunk):
    """Paused every `chunk` ops and resumed, the pass logs the same ops and messages, in order,
    and ends with the same counters."""
    plan = plan_of(samples=24, **training)
    whole = plan.run()
    run = plan.begin()
    steps = in_steps(run, chunk)
    assert all(len(s.op_kind) <= chunk for s in steps)
    assert [s.first_op for s in steps] == list(np.cumsum([0] + [len(s.op_kind) for s in steps[:-1]]))
    for name in ("op_layer", "op_kind", "op_tag", "op_start", "op_end"):
        assert np.array_equal(np.concatenate([getattr(s, name) for s in steps]), getattr(whole, name))
    # A B's distance to its U is known when both are in one log: else it is 0.
    aux, b = np.concatenate([s.op_aux for s in steps]), whole.op_kind == 1
    assert np.array_equal(aux[~b], whole.op_aux[~b])
    assert np.array_equal(aux[b] & ((1 << COUNT_SHIFT) - 1), whole.op_aux[b] & ((1 << COUNT_SHIFT) - 1))
    assert np.all(((aux[b] >> COUNT_SHIFT) == (whole.op_aux[b] >> COUNT_SHIFT)) | ((aux[b] >> COUNT_SHIFT) == 0))
    assert np.array_equal(np.concatenate([s.messages for s in steps], axis=1), whole.messages)
    last = run.timeline()
    assert last.status == DONE and np.array_equal(last.totals, whole.totals)
    for name in ("busy_cycles", "sram_peak", "stale_value", "link_busy", "traffic", "eval_ops", "reduce_ops"):
        assert np.array_equal(getattr(last, name), getattr(whole, name))


def test_a_pass_without_logs_pauses_every_so_many_ops_too():
    """Timing-only, no trace: steps of 10 ops start 10 ops each (the last fewer) and end with the whole pass's counters."""
    plan = plan_of(samples=24, algorithm="mbgd", batch_size=3)
    whole = plan.run(record_ops=False, record_times=False)
    run = plan.begin(record_ops=False, record_times=False)
    stops = [run.step(10).stop_op]
    while run.paused:
        stops.append(run.step(10).stop_op)
    assert stops == list(range(10, whole.n_ops, 10)) + [whole.n_ops] * (1 + (whole.n_ops % 10 == 0))
    assert np.array_equal(run.timeline().totals, whole.totals)

