"""A parameter-server shard on the chip: exact event traces of locked and lock-free weight requests."""

from __future__ import annotations

import numpy as np
import pytest

from wafersim.algorithms.pipeline import Recorder
from wafersim.algorithms.shard import REQUEST_BYTES, Push, ShardProgram
from wafersim.algorithms.store import ParameterStore
from wafersim.config import HardwareConfig
from wafersim.hardware.chip import Chip
from wafersim.memory import shard_memory
from wafersim.records import Message
from tests.builders import dense_layer

# One MAC per cycle and no overhead: U of a 3 -> 2 layer with bias costs 8 cycles. A message to a
# neighbour takes 1 hop x 1 cycle + 1 cycle of body.
HARDWARE = HardwareConfig.model_validate({
    "name": "shard-test", "clock_hz": 1.0e9, "mesh": {"rows": 1, "cols": 3},
    "pe": {"macs_per_cycle": 1, "sram_bytes": 1 << 20, "op_overhead_cycles": 0},
    "noc": {"hop_latency_cycles": 1, "link_bytes_per_cycle": 10**6, "contention": False},
})
W1, W2, SHARD = (0, 0), (0, 2), (0, 1)


class Inbox:
    """A worker stand-in that notes (cycle, message) for everything it receives."""

    def __init__(self, chip):
        self.chip, self.got = chip, []

    def receive(self, message):
        self.got.append((self.chip.now, message))

    def start_next(self):
        return None


def _setup(lock_free):
    chip = Chip(HARDWARE)
    layer = dense_layer()
    store = ParameterStore(layer, False)
    recorder = Recorder(1, 4, lambda samples: None)
    shard = ShardProgram(chip=chip, coord=SHARD, k=1, store=store, workers=[W1, W2], lock_free=lock_free,
                         cycles_U=8, cycles_S=3, param_bytes=32, recorder=recorder,
                         memory=shard_memory(1, layer.shape, layer.optimizer, 2))
    chip.add_pe(SHARD, shard)
    workers = [Inbox(chip), Inbox(chip)]
    chip.add_pe(W1, workers[0])
    chip.add_pe(W2, workers[1])
    ones = Push([np.ones((2, 3), np.float32), np.ones(2, np.float32)], mean_over=1, samples=4, base_version=0,
                reply=False)
    chip.send(W1, SHARD, 32, Message("push", 1, ones))  # arrives at 2: U runs over [2, 10)
    chip.env.timeout(4).callbacks.append(  # arrives at 6
        lambda _e: chip.send(W2, SHARD, REQUEST_BYTES, Message("pull", 2, None)))
    chip.run()
    return chip, recorder, workers


def test_lock_free_read_in_the_middle_of_an_update_sees_the_rows_written_so_far():
    """At cycle 6 the update started at 2 has written (6 - 2) * 2 // 8 = 1 of 2 rows; the reply
    leaves at once and reaches worker 2 at 8, reporting version 0 (the update is not complete)."""
    chip, recorder, workers = _setup(lock_free=True)
    assert chip.trace == [(SHARD, "U", 1, 2, 10)]
    [(cycle, (kind, worker, (weights, version)))] = workers[1].got
    assert (cycle, kind, worker, version) == (8, "weights", 2, 0)
    np.testing.assert_array_equal(weights[0], [[-1, -1, -1], [0, 0, 0]])
    np.testing.assert_array_equal(weights[1], [-1, 0])
    assert recorder.staleness == [[0]] and recorder.samples_trained == 4


def test_locking_shard_serves_the_request_after_the_update():
    """The request waits for U to end at 10, then S runs over [10, 13) and the reply arrives at 15
    with the whole update and version 1."""
    chip, _, workers = _setup(lock_free=False)
    assert chip.trace == [(SHARD, "U", 1, 2, 10), (SHARD, "S", 2, 10, 13)]
    [(cycle, (kind, worker, (weights, version)))] = workers[1].got
    assert (cycle, version) == (15, 1)
    np.testing.assert_array_equal(weights[0], -np.ones((2, 3)))
    assert workers[0].got == []  # the push did not ask for a reply


def test_shard_sram_counts_a_landing_buffer_per_queued_push():
    chip, _, _ = _setup(lock_free=False)
    shard = chip.pes[SHARD].program
    assert shard.sram.peak == 64 and shard.sram.in_use == 32  # 32 bytes of weights stay
    assert shard.stats() == {"op_cycles": {"U": 8, "S": 3}, "updates": 1, "reads": 1, "max_queued": 1,
                             "peak_sram_bytes": 64}


@pytest.mark.parametrize("lock_free", [True, False])
def test_pushes_arriving_together_apply_in_worker_order(lock_free):
    chip = Chip(HARDWARE)
    layer = dense_layer(arithmetic=False)
    store = ParameterStore(layer, False)
    recorder = Recorder(1, 8, lambda samples: None, arithmetic=False)
    chip.add_pe(SHARD, ShardProgram(chip=chip, coord=SHARD, k=1, store=store, workers=[W1, W2],
                                    lock_free=lock_free, cycles_U=8, cycles_S=3, param_bytes=32, recorder=recorder,
                                    memory=shard_memory(1, layer.shape, layer.optimizer, 2)))
    chip.add_pe(W1, Inbox(chip))
    chip.add_pe(W2, Inbox(chip))
    chip.send(W2, SHARD, 32, Message("push", 2, Push(None, 1, 4, 0, False)))
    chip.send(W1, SHARD, 32, Message("push", 1, Push(None, 1, 4, 0, False)))
    chip.run()
    assert chip.trace == [(SHARD, "U", 1, 2, 10), (SHARD, "U", 2, 10, 18)]
    assert recorder.staleness == [[0, 1]] and recorder.samples_trained == 8
