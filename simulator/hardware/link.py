"""Directed links and the network on chip: cut-through timing with optional FIFO contention."""

from __future__ import annotations

from dataclasses import dataclass

from .mesh import Coord, Mesh


@dataclass
class Link:
    """One directed link between neighbouring nodes, with the cycle from which it is free."""

    src: Coord
    dst: Coord
    free_at: int = 0  # first cycle at which the link can accept a new message (contention on)
    busy_cycles: int = 0  # cycles spent serialising messages
    messages: int = 0
    wait_cycles: int = 0  # cycles message heads waited for this link


class Network:
    """XY-routed messages between nodes of a mesh.

    A message of S bytes over h links leaves at cycle t and, with no waiting, arrives at
    t + h * hop_latency + ceil(S / link_bytes_per_cycle): the head pays the latency of each
    hop and the body streams behind it (cut-through). With contention on, a link carries
    one message body at a time: a head that reaches a busy link waits until it is free,
    and links are granted in the order messages are sent (FIFO by send time).
    """

    def __init__(self, mesh: Mesh, hop_latency_cycles: int, link_bytes_per_cycle: int, contention: bool):
        self.mesh = mesh
        self.hop_latency = hop_latency_cycles
        self.bandwidth = link_bytes_per_cycle
        self.contention = contention
        self.links: dict[tuple[Coord, Coord], Link] = {}
        self._routes: dict[tuple[Coord, Coord], list[Link]] = {}
        self.messages = 0
        self.bytes_sent = 0
        self.byte_hops = 0  # sum over messages of bytes x links crossed
        self.wait_cycles = 0

    def route(self, src: Coord, dst: Coord) -> list[Link]:
        key = (src, dst)
        route = self._routes.get(key)
        if route is None:
            route = [self.links.setdefault(pair, Link(*pair)) for pair in self.mesh.route(src, dst)]
            self._routes[key] = route
        return route

    def serialization(self, nbytes: int) -> int:
        """Cycles for a message body to pass one point of a link."""
        return -(-nbytes // self.bandwidth)

    def transit(self, src: Coord, dst: Coord, nbytes: int, now: int) -> int:
        """Reserve the route for a message sent at cycle `now`; return its arrival cycle."""
        return self.transit_on(self.route(src, dst), nbytes, now)

    def transit_on(self, route: list[Link], nbytes: int, now: int) -> int:
        """`transit` along a route already looked up."""
        return Wire(self, route, nbytes).transit(now)

    def wire(self, src: Coord, dst: Coord, nbytes: int) -> Wire:
        """The way for messages of `nbytes` from src to dst, looked up once (see `Wire`)."""
        return Wire(self, self.route(src, dst), nbytes)


class Wire:
    """The way messages of one size take between two nodes: the route and the body's
    serialisation worked out once, so that each message only reserves the links.

    `transit(now)` is where every message's timing and counts are made (`Network.transit`
    builds a wire for the one message).
    """

    __slots__ = ("network", "route", "nbytes", "ser", "byte_hops")

    def __init__(self, network: Network, route: list[Link], nbytes: int):
        self.network, self.route, self.nbytes = network, route, nbytes
        self.ser = network.serialization(nbytes)
        self.byte_hops = nbytes * len(route)

    def transit(self, now: int) -> int:
        """Reserve the route for a message sent at cycle `now`; return its arrival cycle."""
        network = self.network
        network.messages += 1
        network.bytes_sent += self.nbytes
        network.byte_hops += self.byte_hops
        route = self.route
        if not route:
            return now
        ser = self.ser
        head = now  # the cycle the head reaches the next link
        latency = network.hop_latency
        if network.contention:
            for link in route:
                free = link.free_at
                if free > head:  # the head waits for the body ahead of it
                    link.wait_cycles += free - head
                    network.wait_cycles += free - head
                    head = free
                link.free_at = head + ser
                link.busy_cycles += ser
                link.messages += 1
                head += latency
        else:
            for link in route:
                link.free_at = head + ser
                link.busy_cycles += ser
                link.messages += 1
                head += latency
        return head + ser


class Tree:
    """The way one message takes from a node to several PEs at once (multicast): the union of their
    XY routes, a tree, each link of which carries the body once.

    XY routes from one source that share a link share everything before it (the row first,
    then the column), so a link's head time, worked out for the first destination whose
    route crosses it, holds for every later one. `transit(now)` reserves each link once and
    returns every destination's arrival cycle, in the order the destinations were given.
    """

    __slots__ = ("network", "routes", "nbytes", "ser", "byte_hops")

    def __init__(self, network: Network, routes: list[list[Link]], nbytes: int):
        self.network, self.routes, self.nbytes = network, routes, nbytes
        self.ser = network.serialization(nbytes)
        self.byte_hops = nbytes * len({id(link) for route in routes for link in route})

    def transit(self, now: int) -> list[int]:
        network = self.network
        network.messages += 1
        network.bytes_sent += self.nbytes
        network.byte_hops += self.byte_hops
        ser, latency, contention = self.ser, network.hop_latency, network.contention
        heads: dict[int, int] = {}  # id(link) -> the cycle this message's head entered it
        arrivals = []
        for route in self.routes:
            head = now
            for link in route:
                entered = heads.get(id(link))
                if entered is None:
                    if contention and link.free_at > head:
                        link.wait_cycles += link.free_at - head
                        network.wait_cycles += link.free_at - head
                        head = link.free_at
                    link.free_at = head + ser
                    link.busy_cycles += ser
                    link.messages += 1
                    heads[id(link)] = entered = head
                head = entered + latency
            arrivals.append(head + ser if route else now)
        return arrivals
