"""Tests for link timing, traffic accounting and FIFO contention in wafersim.hardware.link."""

from __future__ import annotations

import pytest

from wafersim.hardware.link import Network
from wafersim.hardware.mesh import PORT, Mesh


def network(hop_latency=1, bandwidth=16, contention=False, rows=3, cols=4) -> Network:
    return Network(Mesh(rows, cols), hop_latency, bandwidth, contention)


@pytest.mark.parametrize("src, dst, nbytes, now, hop_latency, bandwidth, arrival", [
    ((0, 0), (0, 1), 32, 0, 1, 16, 0 + 1 * 1 + 2),
    ((0, 0), (0, 1), 33, 10, 1, 16, 10 + 1 * 1 + 3),
    ((0, 0), (2, 3), 100, 7, 2, 16, 7 + 5 * 2 + 7),
    ((2, 3), (0, 0), 1, 0, 3, 16, 0 + 5 * 3 + 1),
    ((1, 1), (1, 2), 0, 4, 5, 8, 4 + 1 * 5 + 0),
    ((0, 0), (1, 0), 4096, 0, 0, 64, 0 + 0 + 64),
    (PORT, (0, 0), 256, 3, 1, 16, 3 + 1 + 16),
    (PORT, (2, 1), 17, 0, 1, 16, 0 + 4 * 1 + 2),
])
@pytest.mark.parametrize("contention", [False, True])
def test_arrival_without_waiting(src, dst, nbytes, now, hop_latency, bandwidth, arrival, contention):
    assert network(hop_latency, bandwidth, contention).transit(src, dst, nbytes, now) == arrival


def test_message_to_itself_arrives_at_once():
    net = network()
    assert net.transit((1, 1), (1, 1), 64, 9) == 9
    assert net.byte_hops == 0


def test_serialization_rounds_up():
    net = network(bandwidth=16)
    assert [net.serialization(n) for n in (0, 1, 16, 17, 32, 33)] == [0, 1, 1, 2, 2, 3]


def test_traffic_accounting():
    net = network()
    net.transit((0, 0), (0, 1), 40, 0)
    net.transit((0, 0), (2, 3), 10, 0)
    net.transit(PORT, (1, 0), 7, 0)
    assert net.messages == 3
    assert net.bytes_sent == 57
    assert net.byte_hops == 40 * 1 + 10 * 5 + 7 * 2


def test_link_accounting():
    net = network(bandwidth=16)
    net.transit((0, 0), (0, 2), 40, 0)
    net.transit((0, 1), (0, 2), 16, 100)
    first, second = net.links[((0, 0), (0, 1))], net.links[((0, 1), (0, 2))]
    assert (first.messages, first.busy_cycles) == (1, 3)
    assert (second.messages, second.busy_cycles) == (2, 4)


def test_contention_second_message_waits_for_the_first_body():
    net = network(hop_latency=1, bandwidth=16, contention=True)
    assert net.transit((0, 0), (0, 1), 32, 10) == 10 + 1 + 2
    assert net.transit((0, 0), (0, 1), 32, 10) == 10 + 2 + 1 + 2
    assert net.wait_cycles == 2
    assert net.links[((0, 0), (0, 1))].wait_cycles == 2


def test_contention_queue_of_three():
    net = network(hop_latency=1, bandwidth=16, contention=True)
    arrivals = [net.transit((0, 0), (0, 1), 48, 0) for _ in range(3)]
    assert arrivals == [4, 7, 10]
    assert net.wait_cycles == 3 + 6


def test_contention_on_a_later_link_of_the_route():
    net = network(hop_latency=1, bandwidth=16, contention=True)
    assert net.transit((0, 0), (0, 2), 32, 0) == 2 * 1 + 2
    assert net.transit((0, 1), (0, 2), 32, 0) == 3 + 1 + 2
    assert net.wait_cycles == 3


def test_link_free_again_after_the_body_passed():
    net = network(hop_latency=1, bandwidth=16, contention=True)
    net.transit((0, 0), (0, 1), 32, 0)
    assert net.transit((0, 0), (0, 1), 32, 2) == 2 + 1 + 2
    assert net.wait_cycles == 0


def test_without_contention_no_message_waits():
    net = network(hop_latency=1, bandwidth=16, contention=False)
    assert [net.transit((0, 0), (0, 1), 32, 10) for _ in range(3)] == [13, 13, 13]
    assert net.wait_cycles == 0
    assert net.links[((0, 0), (0, 1))].wait_cycles == 0


def test_opposite_directions_do_not_contend():
    net = network(hop_latency=1, bandwidth=16, contention=True)
    assert net.transit((0, 0), (0, 1), 32, 5) == 8
    assert net.transit((0, 1), (0, 0), 32, 5) == 8
    assert net.wait_cycles == 0
    assert set(net.links) == {((0, 0), (0, 1)), ((0, 1), (0, 0))}
