"""The compiled timing pass of the layer pipeline: every op's start and end and every message's send and arrival.

A Numba port of the event engine for SGD, CP, MBGD and ring all-reduce
(`algorithms/pipeline.py` and `allreduce.py` on `hardware/pe.py`, `link.py` and `chip.py`),
rule for rule: the same events (a delivery per message, a completion per op) processed in
the same order (by cycle, then by the order in which they were scheduled, as SimPy does),
the same op choice (R, then U, then F if the window has room, the gate is open and the top
layer has the label, then B), the same same-cycle rule (a PE waits for every message due to
it this cycle before it chooses), the same XY routes and FIFO link grants. Nothing here
depends on values, which is why the arithmetic can be replayed afterwards in the order
this pass finds (`replay.py`).

PEs are indexed p = w * D + k: layer k = 0..D-1 (layer k+1 of the scenario) of worker
w = 0..N-1 (N = 1 for a pipeline). Each worker streams its own samples (`stream[w]`, the
sample ids it trains on, in order) through its layers; internally a sample is its position
in its worker's stream. Under all-reduce (N > 1) a layer that has summed a minibatch's
gradient passes chunks round the ring of its N copies (reduce-scatter with an R op per
chunk added, then all-gather), and applies the sum once every chunk is back.

Samples move through each layer in order and back-propagate in the order they were
forwarded, and a route delivers in the order it was sent, so every queue is a ring buffer;
a queue that would overflow, or a backward out of order, stops the pass with an error code
(the engine then falls back to the event engine; it never happens for these schedules).
Message kinds inside the pass: 0 x (activations), 1 e (deltas), 2 y (labels), 3 ring
(all-reduce chunks); the logs use the codes of `records.MESSAGE_KIND_TABLE`. Op kinds are
the codes of `records.OP_KINDS`: 0 F, 1 B, 2 U, 4 R.
"""

from __future__ import annotations

import numpy as np
from wafersim_kernels._jit import cached_njit

# Why a pass stopped (the last entry of its `totals` array).
DONE, STOPPED, OVERFLOW, OUT_OF_ORDER, PAUSED = 0, 1, 2, 3, 4
# op_aux bits: a U copies the weights first; a B reads the oldest stashed copy; a B drops it.
# Above them (shifted by COUNT_SHIFT), a U's count of samples in its gradient; for a B whose PE
# starts its U next, how many ops later that U comes (within one log; 0 if not known).
AUX_KEEP, AUX_STASHED, AUX_RELEASE = 1, 2, 4
COUNT_SHIFT = 3
# Indices into `totals`: counters of the network and of the pass.
# From T_N_OUT on: where the event loop is between two calls (sends made, the op to schedule,
# its PE, tag and cycles), the last evaluation and the updates logged.
(T_NOW, T_MESSAGES, T_BYTES, T_BYTE_HOPS, T_WAIT, T_TRAINED, T_OPS, T_N_EVALS, T_STATUS, T_HEAP, T_SEQ,
 T_N_OUT, T_OP, T_PE, T_S, T_CYCLES, T_LAST_EVAL, T_N_UPDATES, N_TOTALS) = range(19)
# An event on the heap is one int64: tag * SHIFT + pe * 8 + kind, kind 0-3 the delivery of a
# message of that kind to PE pe (tag: its sample's stream position), COMPLETE the end of the op
# running on pe (tag: the op's).
TAG_BITS = 24  # room for 2**21 PEs
SHIFT = 1 << TAG_BITS
COMPLETE = 7
# Columns of the per-PE state rows, the fields of an event's common path first. Flags are 0/1.
# The PE: busy, the kind of the op running (and whether its B ends a gradient), its busy cycles,
# the end of its last op, ops started. Its program (`LayerProgram`): an update pending; queues
# (count and head of inputs, held samples, deltas, with their ring offsets and sizes); window;
# weight version; op cycles; message bytes; SRAM in use and peak; the gradient being summed
# (samples, oldest version, last sample); most held; updates; samples applied; anchored rule
# and stash bytes. Its ring (`RingLayer`): own gradient summed (ready), the next chunk to take,
# phase and step expected, the chunk its R adds, R ops. The index of the PE's last op.
(S_BUSY, S_CUR_KIND, S_CUR_ENDS, S_PENDING, S_READY, S_IN_N, S_IN_HEAD, S_HELD_N, S_HELD_HEAD, S_DE_N, S_DE_HEAD,
 S_WINDOW, S_VERSION, S_CF, S_CB, S_CU, S_IN_BYTES, S_OUT_BYTES, S_IN_OFF, S_IN_CAP, S_HELD_OFF, S_HELD_CAP, S_SRAM,
 S_SRAM_PEAK, S_BUSY_CYCLES, S_BUSY_UNTIL, S_PE_OPS, S_GROUP_N, S_GROUP_MIN, S_GROUP_LAST, S_MAX_IN_FLIGHT, S_UPDATES,
 S_APPLIED, S_ANCHORED, S_STASH_BYTES, S_CHUNK_NEXT, S_RING_PHASE, S_RING_STEP, S_CUR_CHUNK, S_REDUCE_OPS,
 S_LAST_OP) = range(41)
N_STATE = 41
W_OFF, W_CAP, W_HEAD, W_N = range(4)  # columns of a ring of messages on their way
X, E, Y, RING = 0, 1, 2, 3  # message kinds inside the pass
KIND_CODE = (0, 1, 2, 6)  # their codes in the message log (`records.MESSAGE_KIND_TABLE`)
F, B, U, R = 0, 1, 2, 4  # op codes (`records.OP_KINDS`)
N_MESSAGE_CODES = 7
# The arrays of a pass's state, in the order of the tuple `new_state` returns (`pipeline_pass` advances it).
STATE_FIELDS = ("st", "way", "way_t", "way_next", "chunk_t", "chunk_state", "chunk_sent", "held_s", "held_v", "held_c",
                "de_s", "in_s", "label", "stale_layer", "stale_value", "link_free", "link_busy", "link_msgs",
                "link_wait", "traffic", "totals", "outbox", "sent", "heap", "evals")


@cached_njit(inline="always", error_model="numpy")
def _wrap(i, cap):
    """i % cap for 0 <= i < 2 cap (a ring index one step past its end), without a division."""
    return i - cap if i >= cap else i


@cached_njit
def _grow_heap(h, size):
    """The heap `h` with room for at least `size` events (doubling), its events kept."""
    if size <= h.shape[0]:
        return h
    g = np.empty((max(size, 2 * h.shape[0]), 4), dtype=h.dtype)
    g[: h.shape[0]] = h
    return g


# The event heap is one int64 array of rows (cycle, order scheduled, event, unused): a row is 32
# bytes, so an event's three fields share a cache line.
@cached_njit(inline="always", error_model="numpy")  # inlined: no call and no reference counting per event
def _push(h, n, time, seq, what):
    """Push an event on the binary min-heap ordered by (time, seq); returns the new size."""
    i = n
    while i > 0:
        parent = (i - 1) >> 1
        if h[parent, 0] < time or (h[parent, 0] == time and h[parent, 1] < seq):
            break
        h[i, 0], h[i, 1], h[i, 2] = h[parent, 0], h[parent, 1], h[parent, 2]
        i = parent
    h[i, 0], h[i, 1], h[i, 2] = time, seq, what
    return n + 1


@cached_njit(inline="always", error_model="numpy")  # inlined: no call and no reference counting per event
def _pop(h, n):
    """Remove the smallest event (its values must be read before); returns the new size."""
    n -= 1
    time, seq, what = h[n, 0], h[n, 1], h[n, 2]
    i = 0
    while True:
        child = 2 * i + 1
        if child >= n:
            break
        if child + 1 < n and (h[child + 1, 0] < h[child, 0] or (
                h[child + 1, 0] == h[child, 0] and h[child + 1, 1] < h[child, 1])):
            child += 1
        if time < h[child, 0] or (time == h[child, 0] and seq < h[child, 1]):
            break
        h[i, 0], h[i, 1], h[i, 2] = h[child, 0], h[child, 1], h[child, 2]
        i = child
    if n > 0:
        h[i, 0], h[i, 1], h[i, 2] = time, seq, what
    return n


@cached_njit(inline="always", error_model="numpy")  # field by field: a row slice would cost a reference count
def _post(outbox, n, route, src, dst, nbytes, kind, tag, log_tag):
    """Add a send to the event's outbox (row n); returns the new count."""
    outbox[n, 0], outbox[n, 1], outbox[n, 2], outbox[n, 3] = route, src, dst, nbytes
    outbox[n, 4], outbox[n, 5], outbox[n, 6] = kind, tag, log_tag
    return n + 1


@cached_njit(error_model="numpy")  # a call of its own: inlining it here made the pass slower and longer to compile
def _send(r, src, dst, nbytes, kind, tag, log_tag, now, route_off, route_links, link_free, link_busy, link_msgs,
          link_wait, hop_latency, bandwidth, contention, totals, traffic, mlog, mbase, way_t, way, way_next, heap):
    """Send a message of `kind` and `nbytes` along route r (`link.Network.transit_on` and
    `chip.Chip.send`): reserve its links, count it, log it (in row i - mbase of `mlog` for the
    i-th message of the run, if it has room for it; with `log_tag`, its sample id or worker) and schedule its delivery (with `tag`). Returns its
    arrival cycle, or -1 if the ring of its kind's messages on their way to `dst` overflows
    (chunks, which may overtake each other, are kept by the caller)."""
    ser = -(-nbytes // bandwidth)
    head = now
    for li in range(route_off[r], route_off[r + 1]):
        link = route_links[li]
        start = head
        if contention and link_free[link] > head:
            start = link_free[link]
            link_wait[link] += start - head
            totals[T_WAIT] += start - head
        link_free[link] = start + ser
        link_busy[link] += ser
        link_msgs[link] += 1
        head = start + hop_latency
    hops = route_off[r + 1] - route_off[r]
    arrival = head + ser if hops > 0 else now
    i = totals[T_MESSAGES]
    totals[T_MESSAGES] = i + 1
    totals[T_BYTES] += nbytes
    totals[T_BYTE_HOPS] += nbytes * hops
    code = KIND_CODE[kind]
    traffic[code, 0] += 1
    traffic[code, 1] += nbytes
    traffic[code, 2] += nbytes * hops
    j = i - mbase
    if j < mlog.shape[1]:
        mlog[0, j], mlog[1, j], mlog[2, j], mlog[3, j] = src, dst, now, arrival
        mlog[4, j], mlog[5, j], mlog[6, j] = nbytes, code, log_tag
    if kind != RING:
        ring = dst * 4 + kind  # rings are PE-major: a PE's kinds side by side
        if way[ring, W_N] == way[ring, W_CAP]:
            return -1
        if way[ring, W_N] == 0:
            way_next[dst, kind] = arrival
        way_t[way[ring, W_OFF] + _wrap(way[ring, W_HEAD] + way[ring, W_N], way[ring, W_CAP])] = arrival
        way[ring, W_N] += 1
    seq = totals[T_SEQ]
    totals[T_HEAP] = _push(heap, totals[T_HEAP], arrival, seq, tag * SHIFT + dst * 8 + kind)
    totals[T_SEQ] = seq + 1
    return arrival


@cached_njit(error_model="numpy")
def new_state(cF, cB, cU, in_bytes, out_bytes, window, anchored, stash_bytes, sram_static, D, stream, group_batch,
              n_links):
    """The state of a pass before its first event (arguments as `pipeline_pass` describes them): a
    tuple of arrays that `pipeline_pass` advances, with every counter in its `totals`."""
    P = cF.shape[0]
    N = stream.shape[0]
    S = stream.shape[1]  # samples per worker
    n = S
    last_layer = D - 1
    # -- rings: what a layer holds is bounded by its window, what waits for it by its neighbour's
    held_cap = np.minimum(window, n) + 1
    in_cap = np.empty(P, np.int64)
    for p in range(P):
        in_cap[p] = min(window[p] + 1, n) + 1 if p % D == 0 else min(window[p - 1], n) + 1
    # Messages on their way to PE p, one ring per kind (ring p * 4 + kind; columns W_*): one route
    # each (x from p-1 or the port, e from p+1, y from the port to the top layer, chunks from the
    # previous worker), and a route delivers in the order it was sent, so a ring's oldest entry
    # arrives first. A label is on its way only while its sample is held at (or waiting for)
    # layer 1; a worker's ring chunks at most two updates' worth. way_next[p, kind]: when the
    # oldest arrives (-1: none on its way), what a PE looks at to know if a message is due.
    way = np.zeros((4 * P, 4), np.int64)
    for p in range(P):
        way[4 * p + X, W_CAP], way[4 * p + E, W_CAP] = in_cap[p], held_cap[p]
        if p % D == last_layer:
            way[4 * p + Y, W_CAP] = min(window[p - last_layer] + 2, n) + 1
    for r in range(1, 4 * P):
        way[r, W_OFF] = way[r - 1, W_OFF] + way[r - 1, W_CAP]
    way_t = np.empty(way[4 * P - 1, W_OFF] + way[4 * P - 1, W_CAP], np.int64)  # arrival cycles
    way_next = np.full((P, 4), -1, np.int64)
    # All-reduce chunks to PE p (one route too, but of unequal sizes, so a later one may arrive
    # first on a link without contention): by their number m in the order sent, slot m % n_chunk,
    # their arrival and state (1 on its way, 2 arrived, 0 taken); taken in the order sent, as
    # `RingLayer` takes them (a worker's ring chunks are at most two updates' worth).
    n_chunk = 4 * N + 4 if N > 1 else 1
    chunk_t = np.zeros((P, n_chunk), np.int64)
    chunk_state = np.zeros((P, n_chunk), np.int8)
    chunk_sent = np.zeros(P, np.int64)
    held_off = np.zeros(P + 1, np.int64)
    in_off = np.zeros(P + 1, np.int64)
    for p in range(P):
        held_off[p + 1] = held_off[p] + held_cap[p]
        in_off[p + 1] = in_off[p] + in_cap[p]
    held_s = np.empty(held_off[P], np.int64)  # samples forwarded, not yet back-propagated, oldest first
    held_v = np.empty(held_off[P], np.int64)  # the weight version each was forwarded with
    held_c = np.zeros(held_off[P], np.int8)  # 1: its backward drops the stashed copy of its version
    de_s = np.empty(held_off[P], np.int64)  # deltas waiting (their samples)
    in_s = np.empty(in_off[P], np.int64)  # inputs waiting (their samples)
    label = np.zeros(max(N * n, 1), np.bool_)  # labels that have reached the top layer, by worker and position
    # -- each PE's program state and constants: one row per PE (columns S_*), so that the fields
    # an event reads share a few cache lines (at wafer depth, arrays of a field each miss on every one)
    st = np.zeros((P, N_STATE), np.int64)
    for p in range(P):
        st[p, S_WINDOW], st[p, S_IN_OFF], st[p, S_IN_CAP] = window[p], in_off[p], in_cap[p]
        st[p, S_HELD_OFF], st[p, S_HELD_CAP] = held_off[p], held_cap[p]
        st[p, S_CF], st[p, S_CB], st[p, S_CU] = cF[p], cB[p], cU[p]
        st[p, S_IN_BYTES], st[p, S_OUT_BYTES] = in_bytes[p], out_bytes[p]
        st[p, S_ANCHORED], st[p, S_STASH_BYTES] = anchored[p], stash_bytes[p]
        st[p, S_SRAM], st[p, S_SRAM_PEAK] = sram_static[p], sram_static[p]
    n_steps = n if group_batch == 0 else -(-n // group_batch)  # updates per layer
    stale_layer = np.empty(D * n_steps, np.int32)  # per update of worker 0, in the order they start: its layer
    stale_value = np.empty(D * n_steps, np.int32)  # and its staleness
    # -- network ---------------------------------------------------------------------------
    link_free = np.zeros(n_links, np.int64)
    link_busy = np.zeros(n_links, np.int64)
    link_msgs = np.zeros(n_links, np.int64)
    link_wait = np.zeros(n_links, np.int64)
    traffic = np.zeros((N_MESSAGE_CODES, 3), np.int64)
    totals = np.zeros(N_TOTALS, np.int64)
    evals = np.empty((3, 16), np.int64)  # evaluation points: samples trained, cycle, ops started before
    heap = np.empty((64 + 5 * P, 4), np.int64)  # the events, ordered by (cycle, order scheduled)
    # The sends an event makes (rows: route, src, dst, nbytes, kind, tag, log tag), in the order
    # the event engine makes them: an op's finish sends its result (and a finished gradient's
    # first chunk), the PE's choice of its next op forwards gathered chunks, and the op it
    # starts may make the port send the next sample (x, then its label). They are made
    # together after the event, before the completion of the op it started is scheduled:
    # nothing in between depends on them. At the start every port sends its first sample.
    outbox = np.empty((2 * N + 4, 7), np.int64)
    n_out = 0
    totals[T_OP] = -1  # the op the last event started (its completion is scheduled after the sends), or -1
    sent = np.zeros(N, np.int64)  # samples each worker's port has sent (`Session.start` sends the first)
    if n > 0:
        for w in range(N):
            n_out = _post(outbox, n_out, w, -1, w * D, in_bytes[w * D], X, 0, stream[w, 0])
            n_out = _post(outbox, n_out, N + w, -1, w * D + last_layer, 4, Y, 0, stream[w, 0])
            sent[w] = 1
    totals[T_N_OUT] = n_out
    return (st, way, way_t, way_next, chunk_t, chunk_state, chunk_sent, held_s, held_v, held_c, de_s, in_s, label,
            stale_layer, stale_value, link_free, link_busy, link_msgs, link_wait, traffic, totals, outbox, sent,
            heap, evals)


@cached_njit(error_model="numpy")  # no zero-division checks: no divisor here can be 0
def pipeline_pass(state, D, stream, ring_cycles, ring_bytes, gate_batch, group_batch, route_off, route_links,
                  hop_latency, bandwidth, contention, eval_every, max_ops, step_ops, record_ops, record_times, op_layer,
                  op_kind, op_tag, op_aux, op_start, op_end, mlog):
    """Simulate N workers' pipelines of D layers, each on its stream of samples, from `state`
    (`new_state`) on: until no event is left (DONE), before the op that would be op number
    max_ops (STOPPED; -1: never), or once the logs given are full or step_ops ops have
    started in this call (PAUSED, if step_ops > 0: call again with the same state and new
    logs to go on).

    Per PE p = w * D + k (int64[N * D]) in `new_state`: cF, cB, cU op cycles; in_bytes,
    out_bytes message sizes; window (most samples held); anchored (0/1); stash_bytes;
    sram_static (bytes held throughout). stream (int64[N, S]): worker w's sample ids in the
    order it trains on them. ring_cycles, ring_bytes (int64[D, N]): the R op cycles and the
    bytes of chunk c of layer k's ring (unused for N = 1). gate_batch: 0 lets every F go
    (CP), B > 0 lets the sample at stream position i go at version >= i // B (SGD is 1,
    MBGD its batch size); group_batch: 0 ends a gradient at every backward, B > 0 every B
    samples and at the last. Routes (int64): route r's links are
    route_links[route_off[r]:route_off[r+1]] (link ids < n_links); r = w the port to worker
    w's layer 0 (x), N + w the port to its top layer (y), 2N + p PE p -> p+1 (x),
    2N + P + p PE p -> p-1 (e), 2N + 2P + p PE p to the same layer of the next worker (ring).
    max_ops stops the pass where the event engine stops when a run is interrupted there.

    Logs from this call on, if record_ops: per op started (PE, kind, tag, aux; start and end
    if record_times); if record_times, per message sent (rows src, dst, sent, arrival,
    nbytes, kind code, tag). An op's tag is its sample's id (an R: the update it sums for);
    its aux the AUX_* bits and, for a U, its count of samples above COUNT_SHIFT; for an R the
    ring step. The state keeps per-PE and per-link counters, traffic (kind code x
    messages/bytes/byte-hops), each update's layer and staleness (worker 0's), the
    evaluation points and `totals` (indices T_*). Returns the heap and the evaluation
    points, which may have been reallocated to grow.
    """
    (st, way, way_t, way_next, chunk_t, chunk_state, chunk_sent, held_s, held_v, held_c, de_s, in_s, label,
     stale_layer, stale_value, link_free, link_busy, link_msgs, link_wait, traffic, totals, outbox, sent,
     heap, evals) = state
    P = st.shape[0]
    N = stream.shape[0]
    n = stream.shape[1]  # samples per worker
    last_layer = D - 1
    n_chunk = chunk_t.shape[1]
    now, n_ops, n_out, op = totals[T_NOW], totals[T_OPS], totals[T_N_OUT], totals[T_OP]
    pe, s, cycles = totals[T_PE], totals[T_S], totals[T_CYCLES]
    ops_base, msgs_base = n_ops, totals[T_MESSAGES]  # the logs start here
    status = DONE
    while True:
        if status == DONE and ((record_ops and n_ops - ops_base >= op_kind.shape[0]) or (
                record_times and totals[T_MESSAGES] - msgs_base + n_out > mlog.shape[1]) or (
                0 < step_ops <= n_ops - ops_base)):
            status = PAUSED  # the logs are full, or the step done: the caller goes on from here
            break
        if totals[T_HEAP] + outbox.shape[0] + 1 > heap.shape[0]:  # room for what one event schedules
            heap = _grow_heap(heap, totals[T_HEAP] + outbox.shape[0] + 1)
        for i in range(n_out):
            dst, tag = outbox[i, 2], outbox[i, 5]
            chunk = outbox[i, 4] == RING
            if chunk:  # its number on the route is its tag
                tag = chunk_sent[dst]
                if tag - st[dst, S_CHUNK_NEXT] >= n_chunk:
                    status = OVERFLOW
                    break
            arrival = _send(outbox[i, 0], outbox[i, 1], dst, outbox[i, 3], outbox[i, 4], tag, outbox[i, 6], now,
                            route_off, route_links, link_free, link_busy, link_msgs, link_wait, hop_latency,
                            bandwidth, contention, totals, traffic, mlog, msgs_base, way_t, way, way_next, heap)
            if arrival < 0:
                status = OVERFLOW
            elif chunk:
                slot = tag % n_chunk
                chunk_t[dst, slot], chunk_state[dst, slot] = arrival, 1
                chunk_sent[dst] = tag + 1
                if way_next[dst, RING] < 0 or arrival < way_next[dst, RING]:
                    way_next[dst, RING] = arrival
        n_out = 0
        if op >= 0:
            seq = totals[T_SEQ]
            totals[T_HEAP] = _push(heap, totals[T_HEAP], now + cycles, seq,
                                   s * SHIFT + pe * 8 + COMPLETE)
            totals[T_SEQ] = seq + 1
            op = -1
        if status != DONE or totals[T_HEAP] == 0:
            break
        now = heap[0, 0]
        what = heap[0, 2]
        totals[T_HEAP] = _pop(heap, totals[T_HEAP])
        tag = what >> TAG_BITS
        pe = (what & (SHIFT - 1)) >> 3
        kind = what & 7
        k, w = (pe, 0) if N == 1 else (pe % D, pe // D)  # its layer and worker
        if kind == RING:  # -- a chunk arrives: it waits to be taken in the order sent
            slot = tag % n_chunk
            if chunk_state[pe, slot] != 1 or chunk_t[pe, slot] != now:
                status = OUT_OF_ORDER
                break
            chunk_state[pe, slot] = 2
            due = -1  # the next chunk to arrive
            for m in range(st[pe, S_CHUNK_NEXT], chunk_sent[pe]):
                if chunk_state[pe, m % n_chunk] == 1 and (due < 0 or chunk_t[pe, m % n_chunk] < due):
                    due = chunk_t[pe, m % n_chunk]
            way_next[pe, RING] = due
        elif kind != COMPLETE:  # -- a message arrives (`PE._arrive`, `LayerProgram.receive`)
            ring = pe * 4 + kind
            if way_next[pe, kind] != now:  # not the oldest on its route: not modelled
                status = OUT_OF_ORDER
                break
            head = _wrap(way[ring, W_HEAD] + 1, way[ring, W_CAP])
            way[ring, W_HEAD] = head
            way[ring, W_N] -= 1
            way_next[pe, kind] = way_t[way[ring, W_OFF] + head] if way[ring, W_N] > 0 else -1
            if kind == X:
                if st[pe, S_IN_N] == st[pe, S_IN_CAP]:
                    status = OVERFLOW
                    break
                in_s[st[pe, S_IN_OFF] + _wrap(st[pe, S_IN_HEAD] + st[pe, S_IN_N], st[pe, S_IN_CAP])] = tag
                st[pe, S_IN_N] += 1
                st[pe, S_SRAM] += st[pe, S_IN_BYTES]
                if st[pe, S_SRAM] > st[pe, S_SRAM_PEAK]:
                    st[pe, S_SRAM_PEAK] = st[pe, S_SRAM]
            elif kind == E:
                if st[pe, S_DE_N] == st[pe, S_HELD_CAP]:
                    status = OVERFLOW
                    break
                de_s[st[pe, S_HELD_OFF] + _wrap(st[pe, S_DE_HEAD] + st[pe, S_DE_N], st[pe, S_HELD_CAP])] = tag
                st[pe, S_DE_N] += 1
            else:
                label[w * n + tag] = True
        else:  # -- the op on pe has finished: its `finish` (`PE._complete`)
            st[pe, S_BUSY] = False
            done = st[pe, S_CUR_KIND]
            if done == F:
                if k == last_layer:  # the top layer's F computed dL/dz: its B needs no message
                    if st[pe, S_DE_N] == st[pe, S_HELD_CAP]:
                        status = OVERFLOW
                        break
                    de_s[st[pe, S_HELD_OFF] + _wrap(st[pe, S_DE_HEAD] + st[pe, S_DE_N], st[pe, S_HELD_CAP])] = tag
                    st[pe, S_DE_N] += 1
                else:
                    n_out = _post(outbox, n_out, 2 * N + pe, pe, pe + 1, st[pe, S_OUT_BYTES], X, tag, stream[w, tag])
            elif done == B:
                if k > 0:
                    n_out = _post(outbox, n_out, 2 * N + P + pe, pe, pe - 1, st[pe, S_IN_BYTES], E, tag, stream[w, tag])
                if st[pe, S_CUR_ENDS]:
                    if N == 1:
                        st[pe, S_PENDING] = True
                    else:  # the gradient is summed: its own chunk starts round the ring
                        st[pe, S_READY] = True
                        n_out = _post(outbox, n_out, 2 * N + 2 * P + pe, pe, (pe + D) % P, ring_bytes[k, w], RING, w + 1, w + 1)
            elif done == R:  # the chunk just summed travels on: to be reduced further, or (complete) gathered
                n_out = _post(outbox, n_out, 2 * N + 2 * P + pe, pe, (pe + D) % P, ring_bytes[k, st[pe, S_CUR_CHUNK]], RING,
                              w + 1, w + 1)
            elif pe == 0:  # layer 1 of worker 0 has applied its update: progress, and an evaluation if one is due
                totals[T_TRAINED] = st[0, S_APPLIED]
                if st[0, S_APPLIED] - totals[T_LAST_EVAL] >= eval_every:
                    n_evals = totals[T_N_EVALS]
                    if n_evals == evals.shape[1]:
                        grown = np.empty((3, 2 * n_evals), np.int64)
                        grown[:, :n_evals] = evals
                        evals = grown
                    evals[0, n_evals], evals[1, n_evals], evals[2, n_evals] = st[0, S_APPLIED], now, n_ops
                    totals[T_N_EVALS] = n_evals + 1
                    totals[T_LAST_EVAL] = st[0, S_APPLIED]
        # -- wake pe (`PE.wake`): unless busy or a message is due this cycle, start its next op -------
        if st[pe, S_BUSY]:
            continue
        waiting = False
        for q in range(4 if N > 1 else 3):
            if way_next[pe, q] == now:
                waiting = True
        if waiting:
            continue
        aux = 0
        if st[pe, S_READY] and not st[pe, S_PENDING]:  # `RingLayer._ring_step`: take the next chunk if it is here
            while chunk_state[pe, st[pe, S_CHUNK_NEXT] % n_chunk] == 2:
                chunk_state[pe, st[pe, S_CHUNK_NEXT] % n_chunk] = 0
                st[pe, S_CHUNK_NEXT] += 1
                step = st[pe, S_RING_STEP]
                last = step == N - 2
                if st[pe, S_RING_PHASE] == 0:  # reduce-scatter: add chunk (i-1-t) mod N (op R)
                    st[pe, S_CUR_CHUNK] = (w - 1 - step + N) % N
                    if last:
                        st[pe, S_RING_PHASE], st[pe, S_RING_STEP] = 1, 0
                    else:
                        st[pe, S_RING_STEP] = step + 1
                    op = R
                    aux = step
                    break
                chunk = (w - step + N) % N  # all-gather: copy chunk (i-t) mod N and pass it on
                if not last:
                    st[pe, S_RING_STEP] = step + 1
                    n_out = _post(outbox, n_out, 2 * N + 2 * P + pe, pe, (pe + D) % P, ring_bytes[k, chunk], RING, w + 1, w + 1)
                else:
                    st[pe, S_RING_PHASE], st[pe, S_RING_STEP] = 0, 0
                    st[pe, S_READY] = False
                    st[pe, S_PENDING] = True
                    break
        if op < 0:
            if st[pe, S_PENDING]:
                op = U
            elif st[pe, S_IN_N] > 0 and st[pe, S_HELD_N] < st[pe, S_WINDOW]:
                s = in_s[st[pe, S_IN_OFF] + st[pe, S_IN_HEAD]]
                if (gate_batch == 0 or s // gate_batch <= st[pe, S_VERSION]) and (k < last_layer or label[w * n + s]):
                    op = F
            if op < 0 and st[pe, S_DE_N] > 0:
                op = B
        if op < 0:
            continue
        if n_ops == max_ops:  # stop before this op, once the event's sends are made
            status = STOPPED
            op = -1
            continue
        if op == F:  # take the oldest input and hold it
            s = in_s[st[pe, S_IN_OFF] + st[pe, S_IN_HEAD]]
            st[pe, S_IN_HEAD] = _wrap(st[pe, S_IN_HEAD] + 1, st[pe, S_IN_CAP])
            st[pe, S_IN_N] -= 1
            if k == last_layer:
                label[w * n + s] = False
            slot = st[pe, S_HELD_OFF] + _wrap(st[pe, S_HELD_HEAD] + st[pe, S_HELD_N], st[pe, S_HELD_CAP])
            held_s[slot], held_v[slot], held_c[slot] = s, st[pe, S_VERSION], 0
            st[pe, S_HELD_N] += 1
            if st[pe, S_HELD_N] > st[pe, S_MAX_IN_FLIGHT]:
                st[pe, S_MAX_IN_FLIGHT] = st[pe, S_HELD_N]
            st[pe, S_SRAM] += st[pe, S_OUT_BYTES]
            if st[pe, S_SRAM] > st[pe, S_SRAM_PEAK]:
                st[pe, S_SRAM_PEAK] = st[pe, S_SRAM]
            cycles = st[pe, S_CF]
            log_tag = stream[w, s]
        elif op == B:  # the oldest delta, which is for the oldest held sample
            s = de_s[st[pe, S_HELD_OFF] + st[pe, S_DE_HEAD]]
            st[pe, S_DE_HEAD] = _wrap(st[pe, S_DE_HEAD] + 1, st[pe, S_HELD_CAP])
            st[pe, S_DE_N] -= 1
            slot = st[pe, S_HELD_OFF] + st[pe, S_HELD_HEAD]
            if held_s[slot] != s:
                status = OUT_OF_ORDER
                break
            v = held_v[slot]
            st[pe, S_HELD_HEAD] = _wrap(st[pe, S_HELD_HEAD] + 1, st[pe, S_HELD_CAP])
            st[pe, S_HELD_N] -= 1
            if st[pe, S_ANCHORED]:
                if v != st[pe, S_VERSION]:
                    aux |= AUX_STASHED
                if held_c[slot]:
                    aux |= AUX_RELEASE
                    st[pe, S_SRAM] -= st[pe, S_STASH_BYTES]
            st[pe, S_SRAM] -= st[pe, S_IN_BYTES] + st[pe, S_OUT_BYTES]
            if st[pe, S_GROUP_N] == 0 or v < st[pe, S_GROUP_MIN]:
                st[pe, S_GROUP_MIN] = v
            st[pe, S_GROUP_N] += 1
            st[pe, S_GROUP_LAST] = s
            st[pe, S_CUR_ENDS] = group_batch == 0 or (s + 1) % group_batch == 0 or s == n - 1
            cycles = st[pe, S_CB]
            log_tag = stream[w, s]
        elif op == U:  # apply the gradient of the group (under all-reduce: of every worker's)
            st[pe, S_PENDING] = False
            if st[pe, S_ANCHORED] and st[pe, S_HELD_N] > 0:
                tail = st[pe, S_HELD_OFF] + _wrap(st[pe, S_HELD_HEAD] + st[pe, S_HELD_N] - 1, st[pe, S_HELD_CAP])
                if held_v[tail] == st[pe, S_VERSION]:  # held samples still need these weights: copy them first
                    aux |= AUX_KEEP
                    held_c[tail] = 1  # the last of them to back-propagate drops the copy
                    st[pe, S_SRAM] += st[pe, S_STASH_BYTES]
                    if st[pe, S_SRAM] > st[pe, S_SRAM_PEAK]:
                        st[pe, S_SRAM_PEAK] = st[pe, S_SRAM]
            if w == 0:
                u = totals[T_N_UPDATES]
                stale_layer[u], stale_value[u] = k, st[pe, S_VERSION] - st[pe, S_GROUP_MIN]
                totals[T_N_UPDATES] = u + 1
            st[pe, S_VERSION] += 1
            st[pe, S_UPDATES] += 1
            count = N * st[pe, S_GROUP_N]  # every worker's share of the batch is the same size
            st[pe, S_APPLIED] += count
            aux |= count << COUNT_SHIFT
            st[pe, S_GROUP_N] = 0
            s = st[pe, S_GROUP_LAST]
            cycles = st[pe, S_CU]
            log_tag = stream[w, s]
        else:  # R: add the chunk that came in
            st[pe, S_REDUCE_OPS] += 1
            s = 0
            cycles = ring_cycles[k, st[pe, S_CUR_CHUNK]]
            log_tag = st[pe, S_UPDATES]
        st[pe, S_BUSY] = True
        st[pe, S_BUSY_CYCLES] += cycles
        st[pe, S_BUSY_UNTIL] = now + cycles
        st[pe, S_PE_OPS] += 1
        if record_ops:
            j = n_ops - ops_base
            op_layer[j], op_kind[j], op_tag[j], op_aux[j] = pe, op, log_tag, aux
            if record_times:
                op_start[j], op_end[j] = now, now + cycles
            last = st[pe, S_LAST_OP] - ops_base
            if op == U and st[pe, S_CUR_KIND] == B and st[pe, S_PE_OPS] > 1 and last >= 0:
                op_aux[last] |= (j - last) << COUNT_SHIFT  # the B's update is the PE's next op, this far on
        st[pe, S_CUR_KIND] = op
        st[pe, S_LAST_OP] = n_ops
        n_ops += 1
        if op == F and k == 0 and sent[w] < n:
            # Layer 1 took a sample in: the port sends the next one (x, then its label), before
            # the F's completion is scheduled, as `LayerProgram.forward` does.
            i = sent[w]
            n_out = _post(outbox, n_out, w, -1, pe, st[pe, S_IN_BYTES], X, i, stream[w, i])
            n_out = _post(outbox, n_out, N + w, -1, pe + last_layer, 4, Y, i, stream[w, i])
            sent[w] = i + 1
    totals[T_NOW], totals[T_OPS], totals[T_N_OUT], totals[T_OP] = now, n_ops, n_out, op
    totals[T_PE], totals[T_S], totals[T_CYCLES] = pe, s, cycles
    totals[T_STATUS] = status
    return heap, evals
