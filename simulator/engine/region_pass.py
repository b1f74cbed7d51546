"""The compiled timing pass of a network on layer regions: every block's ops and every piece's journey, without arithmetic.

A Numba port of `algorithms/region_program.BlockProgram` on `hardware/pe.py`, `link.py` and
`chip.py`, rule for rule, for timing-only runs of sgd, cp and mbgd: the same events (a delivery
per destination of every message, a completion per op) in the same order (by cycle, then by the
order in which they were scheduled, as SimPy does), the same op choice (U, then A, then F if
the window has room, the gate is open and, at the top layer's row end, the label is in; then
B), the same reduction trees of partial sums along rows and columns, the same same-cycle rule
(a free PE waits for every message due to it this cycle before it chooses) and the same XY
routes, multicast trees and FIFO link grants.

Events of a cycle are taken off the heap together (`batch`), so that each PE knows how
many of its messages are still due this cycle (`due`); an event scheduled for the cycle
being processed (a zero-cycle op) joins the end of the batch, where its order puts it.

Links are numbered by node and direction: node r * (cols + 1) + c + 1 for the PE at
(r, c) and the port at (0, -1), link node * 4 + d with d 0 east, 1 west, 2 south, 3
north. A message's tree is found as `link.Tree` finds it: each destination's XY route,
walked back from the destination to the first link this message has already entered
(its `links` stamp), then reserved forward from there, so a multicast costs its tree's links, not
the sum of its routes.

Message kinds inside the pass: 0 x, 1 e, 2 y, 3 p, 4 d, 5 q (codes `KIND_CODE` in the logs,
`records.MESSAGE_KIND_TABLE`); op kinds are `records.OP_KINDS` codes: 0 F, 1 B, 2 U, 9 A.
"""

from __future__ import annotations

import numpy as np
from wafersim_kernels._jit import cached_njit

from .pipeline_pass import (COMPLETE, DONE, OUT_OF_ORDER, OVERFLOW, PAUSED, SHIFT, STOPPED, TAG_BITS, _grow_heap,
                            _pop, _push)

# Indices into `totals` (the first ones as in `pipeline_pass`, so views read either alike).
(T_NOW, T_MESSAGES, T_BYTES, T_BYTE_HOPS, T_WAIT, T_TRAINED, T_OPS, T_N_EVALS, T_STATUS, T_HEAP, T_SEQ,
 T_LOGGED, T_BATCH_N, T_BATCH_AT, T_SENT, T_SERIAL, T_LAST_EVAL, T_N_UPDATES, N_TOTALS) = range(19)
X, E, Y, P, D_, Q = 0, 1, 2, 3, 4, 5  # message kinds inside the pass
KIND_CODE = (0, 1, 2, 10, 11, 12)
N_MESSAGE_CODES = 13
F, B, U, A = 0, 1, 2, 9  # op codes
# Flags of a PE (column S_FLAGS).
ROW_END, COL_END, TOP, FIRST, REPORTS, COUNTS, ANCHORED = 1, 2, 4, 8, 16, 32, 64
# Columns of the per-PE rows: constants first (layer, flags, region rows and columns, pieces
# its x and dL/dh arrive in, op cycles, window, bytes, its sends, the parts its row's and its
# column's sums wait for: 1 + its tree children), then its queues' offsets
# and counts (inputs, deltas, held, sums; the counter tables of x pieces, e pieces, row parts
# and column parts), then its program's and PE's state: the op running (its kind, sample,
# whether a B ends a gradient, whether an A is a column's sum), the update pending, weight
# version, the gradient being summed (samples, oldest version, last sample), SRAM in use and
# peak, busy cycles, the end of its last op, ops, most held, updates, samples applied.
(S_LAYER, S_FLAGS, S_R, S_C, S_XP, S_EP, S_CF, S_CB, S_CU, S_CAR, S_CAC, S_WINDOW, S_STASH, S_COL_BYTES,
 S_ROW_BYTES, S_P_SEND, S_D_SEND, S_Q_SEND, S_OUT_OFF, S_OUT_N, S_BACK_OFF, S_BACK_N, S_ROW_PARTS, S_COL_PARTS,
 S_CAP, S_QOFF, S_IN_HEAD, S_IN_N, S_DE_HEAD, S_DE_N, S_HELD_HEAD, S_HELD_N, S_SUM_HEAD, S_SUM_N,
 S_BUSY, S_CUR_KIND, S_CUR_S, S_CUR_ENDS, S_CUR_SUM, S_PENDING, S_VERSION, S_GROUP_N, S_GROUP_MIN, S_GROUP_LAST,
 S_SRAM, S_SRAM_PEAK, S_BUSY_CYCLES, S_BUSY_UNTIL, S_PE_OPS, S_MAX_IN_FLIGHT, S_UPDATES, S_APPLIED) = range(52)
N_STATE = 52
# The queue storage of a PE: from st[p, S_QOFF], CAP slots each of inputs, deltas, held
# samples, their versions, the x, e, row and column counter tables (sample, count), and
# 2 CAP of sums; `held_c` (one byte per held slot) says its B drops the stashed copy.
QUEUES = 14  # CAP slots per PE in `q`: inputs, deltas, held samples and versions, 4 tables x 2, sums (2 CAP)
QI, QD, QH, QV, QX, QXN, QE, QEN, QR, QRN, QC, QCN, QS = range(13)
STATE_FIELDS = ("st", "q", "held_c", "label", "due", "stale_layer", "stale_value", "links", "traffic", "totals",
                "batch", "heap", "evals")
# Columns of a link's row in `links` (one cache line a link: a message's hop touches them together):
# when it is free, cycles busy, messages, cycles heads waited for it, the serial of the last message
# that entered it and the cycle its head did.
L_FREE, L_BUSY, L_MSGS, L_WAIT, L_STAMP, L_ENTERED, N_LINK = 0, 1, 2, 3, 4, 5, 8


@cached_njit(error_model="numpy")
def new_state(st, D, n, n_links):
    """The state of a pass before its first event: `st` (int64[P, N_STATE], its constant columns
    filled by the plan) with queues laid out and counters zeroed, and every other array."""
    Pn = st.shape[0]
    off = 0
    for p in range(Pn):
        st[p, S_QOFF] = off
        off += QUEUES * st[p, S_CAP]
        st[p, S_SRAM_PEAK] = st[p, S_SRAM]
    q = np.zeros(off, np.int32)
    held_c = np.zeros(off // QUEUES + 1, np.int8)
    label = np.zeros(max(n, 1), np.bool_)
    due = np.zeros(Pn, np.int32)  # per PE: deliveries of the cycle being processed still to come
    stale_layer = np.empty(D * max(n, 1), np.int32)
    stale_value = np.empty(D * max(n, 1), np.int32)
    links = np.zeros((n_links, N_LINK), np.int64)
    links[:, L_STAMP] = -1
    traffic = np.zeros((N_MESSAGE_CODES, 3), np.int64)
    totals = np.zeros(N_TOTALS, np.int64)
    batch = np.empty(64 + Pn, np.int64)
    heap = np.empty((64 + 4 * Pn, 4), np.int64)
    evals = np.empty((3, 16), np.int64)
    return (st, q, held_c, label, due, stale_layer, stale_value, links, traffic, totals, batch, heap, evals)


@cached_njit(inline="always", error_model="numpy")
def _alloc(st, p, nbytes):
    st[p, S_SRAM] += nbytes
    if st[p, S_SRAM] > st[p, S_SRAM_PEAK]:
        st[p, S_SRAM_PEAK] = st[p, S_SRAM]


@cached_njit(inline="always", error_model="numpy")
def _link(node_r, node_c, d, cols):
    """The id of the link leaving node (node_r, node_c) in direction d (0 E, 1 W, 2 S, 3 N)."""
    return (node_r * (cols + 1) + node_c + 1) * 4 + d


@cached_njit(error_model="numpy")
def _send(s, now, send_src, send_kind, send_bytes, dst_off, dsts, pe_r, pe_c, cols, hop_latency,
          bandwidth, contention, links, totals, traffic, mlog,
          mbase, heap, batch, due, tag):
    """Send message `s` of the plan (its source, kind, bytes and destinations) for sample `tag` at `now`
    (`chip.Multicast.send`, `link.Tree.transit`; a unicast is a tree of one route): reserve its tree's
    links, count it, log a row per destination and schedule each delivery. Returns -1 if a delivery
    falls in the cycle being processed but the batch is full (never: a message takes at least a cycle)."""
    nbytes = send_bytes[s]
    kind = send_kind[s]
    ser = -(-nbytes // bandwidth)
    serial = totals[T_SERIAL]
    totals[T_SERIAL] = serial + 1
    src = send_src[s]
    rs, cs = (0, -1) if src < 0 else (pe_r[src], pe_c[src])
    tree_links = 0
    code = KIND_CODE[kind]
    for j in range(dst_off[s], dst_off[s + 1]):
        dst = dsts[j]
        rd, cd = pe_r[dst], pe_c[dst]
        nx, ny = abs(cd - cs), abs(rd - rs)
        sx = 1 if cd > cs else -1
        sy = 1 if rd > rs else -1
        hops = nx + ny
        # Walk back from the destination to the first link this message has entered (or to the source).
        i = hops
        while i > 0:
            h = i - 1
            if h < nx:
                li = _link(rs, cs + h * sx, 0 if sx > 0 else 1, cols)
            else:
                li = _link(rs + (h - nx) * sy, cd, 2 if sy > 0 else 3, cols)
            if links[li, L_STAMP] == serial:
                break
            i = h
        if i == 0:
            head = now
        else:
            h = i - 1
            if h < nx:
                li = _link(rs, cs + h * sx, 0 if sx > 0 else 1, cols)
            else:
                li = _link(rs + (h - nx) * sy, cd, 2 if sy > 0 else 3, cols)
            head = links[li, L_ENTERED] + hop_latency
        for h in range(i, hops):  # reserve the rest of the route (`Tree.transit`)
            if h < nx:
                li = _link(rs, cs + h * sx, 0 if sx > 0 else 1, cols)
            else:
                li = _link(rs + (h - nx) * sy, cd, 2 if sy > 0 else 3, cols)
            if contention and links[li, L_FREE] > head:
                links[li, L_WAIT] += links[li, L_FREE] - head
                totals[T_WAIT] += links[li, L_FREE] - head
                head = links[li, L_FREE]
            links[li, L_FREE] = head + ser
            links[li, L_BUSY] += ser
            links[li, L_MSGS] += 1
            links[li, L_STAMP] = serial
            links[li, L_ENTERED] = head
            tree_links += 1
            head += hop_latency
        arrival = head + ser if hops > 0 else now
        k = totals[T_LOGGED]
        totals[T_LOGGED] = k + 1
        if k - mbase < mlog.shape[1] and k >= mbase:
            m = k - mbase
            mlog[0, m], mlog[1, m], mlog[2, m], mlog[3, m] = src, dst, now, arrival
            mlog[4, m], mlog[5, m], mlog[6, m] = nbytes, code, tag
        seq = totals[T_SEQ]
        totals[T_SEQ] = seq + 1
        what = tag * SHIFT + dst * 8 + kind
        if arrival == now:
            n_b = totals[T_BATCH_N]
            if n_b == batch.shape[0]:
                return -1
            batch[n_b] = what
            totals[T_BATCH_N] = n_b + 1
            due[dst] += 1
        else:
            totals[T_HEAP] = _push(heap, totals[T_HEAP], arrival, seq, what)
    totals[T_MESSAGES] += 1
    totals[T_BYTES] += nbytes
    totals[T_BYTE_HOPS] += nbytes * tree_links
    traffic[code, 0] += 1
    traffic[code, 1] += nbytes
    traffic[code, 2] += nbytes * tree_links
    return 0


@cached_njit(inline="always", error_model="numpy")
def _push_q(q, st, p, which, value):
    """Append `value` to PE p's FIFO `which` (QI inputs, QD deltas; QS sums, of 2 CAP); False if full."""
    cap = st[p, S_CAP] * (2 if which == QS else 1)
    head_col, n_col = (S_IN_HEAD, S_IN_N) if which == QI else ((S_DE_HEAD, S_DE_N) if which == QD else
                                                                (S_SUM_HEAD, S_SUM_N))
    n = st[p, n_col]
    if n == cap:
        return False
    i = st[p, head_col] + n
    if i >= cap:
        i -= cap
    q[st[p, S_QOFF] + which * st[p, S_CAP] + i] = value
    st[p, n_col] = n + 1
    return True


@cached_njit(inline="always", error_model="numpy")
def _pop_q(q, st, p, which):
    """Take the oldest value of PE p's FIFO `which`."""
    cap = st[p, S_CAP] * (2 if which == QS else 1)
    head_col, n_col = (S_IN_HEAD, S_IN_N) if which == QI else ((S_DE_HEAD, S_DE_N) if which == QD else
                                                                (S_SUM_HEAD, S_SUM_N))
    head = st[p, head_col]
    value = q[st[p, S_QOFF] + which * st[p, S_CAP] + head]
    head += 1
    st[p, head_col] = 0 if head == cap else head
    st[p, n_col] -= 1
    return value


@cached_njit(inline="always", error_model="numpy")
def _count(q, st, p, table, s, start, step):
    """Count one more piece (or part) of sample s in PE p's counter table `table` (QX, QE, QR or QC):
    a new entry starts at `start` and each call adds `step` (-1 counts pieces down to 0, +1 parts up
    to start = -count). Returns 1 when the sample is complete (the slot is freed), 0 if not yet,
    2 for a first piece (not complete), -1 if the slot holds another sample (too many in flight)."""
    cap = st[p, S_CAP]
    base = st[p, S_QOFF] + table * cap
    slot = s % cap
    first = 0
    if q[base + cap + slot] == 0:
        q[base + slot] = s
        q[base + cap + slot] = start
        first = 2
    elif q[base + slot] != s:
        return -1
    q[base + cap + slot] += step
    if q[base + cap + slot] == 0:
        return 1
    return first


@cached_njit(error_model="numpy")  # no zero-division checks: no divisor here can be 0
def region_pass(state, D, n, gate_batch, group_batch, send_src, send_kind, send_bytes, dst_off, dsts, pe_r, pe_c,
                cols, port_first, port_stop, hop_latency, bandwidth, contention, eval_every, max_ops, step_ops,
                max_event_log, record_ops, record_times, op_layer, op_kind, op_tag, op_start, op_end, mlog):
    """Run the blocks of a network on layer regions over samples 0..n-1, from `state` (`new_state`)
    on: until no event is left (DONE), before the op that would be op number max_ops (STOPPED; -1
    never), or once the logs are full or step_ops ops have started in this call (PAUSED: call again
    with new logs to go on). A full queue or counter table stops it with OVERFLOW, a backward for
    a sample other than the oldest held with OUT_OF_ORDER (neither happens for these schedules).

    Sends: message s of the plan goes from send_src[s] (a PE, -1 the port) to dsts[dst_off[s]:
    dst_off[s+1]] (in order) with send_kind[s] and send_bytes[s]; a PE's own sends are named by
    its columns S_P_SEND, S_Q_SEND (to its parents on its row's and column's trees),
    S_D_SEND (dz along its row) (-1: none) and S_OUT_OFF/S_OUT_N (x pieces),
    S_BACK_OFF/S_BACK_N (e pieces); sends port_first..port_stop-1 are the port's per sample
    (its input's pieces, then the label). pe_r, pe_c: each PE's coordinates on a mesh of `cols`
    columns. gate_batch, group_batch: the schedule's `TimingRules`. max_event_log: the most
    message log rows one event can add. Logs (if record_ops; times and messages if record_times)
    as `pipeline_pass` keeps them. Returns the heap, batch and evaluation points (grown as needed).
    """
    (st, q, held_c, label, due, stale_layer, stale_value, links, traffic, totals, batch, heap, evals) = state
    ops_base, mbase = totals[T_OPS], totals[T_LOGGED]
    n_ops = totals[T_OPS]
    now = totals[T_NOW]
    status = DONE
    if n_ops == 0 and totals[T_SEQ] == 0 and totals[T_SENT] == 0 and n > 0:  # the port sends the first sample
        for m in range(port_first, port_stop):
            _send(m, 0, send_src, send_kind, send_bytes, dst_off, dsts, pe_r, pe_c, cols, hop_latency, bandwidth,
                  contention, links, totals, traffic, mlog, mbase, heap, batch, due, 0)
        totals[T_SENT] = 1
    while True:
        if (record_ops and n_ops - ops_base >= op_kind.shape[0]) or (
                record_times and totals[T_LOGGED] - mbase + max_event_log > mlog.shape[1]) or (
                0 < step_ops <= n_ops - ops_base):
            status = PAUSED
            break
        if totals[T_HEAP] + max_event_log + 2 > heap.shape[0]:
            heap = _grow_heap(heap, totals[T_HEAP] + max_event_log + 2)
        if totals[T_BATCH_N] + max_event_log + 2 > batch.shape[0]:
            grown = np.empty(2 * (totals[T_BATCH_N] + max_event_log + 2), np.int64)
            grown[: totals[T_BATCH_N]] = batch[: totals[T_BATCH_N]]
            batch = grown
        if totals[T_BATCH_AT] == totals[T_BATCH_N]:  # the cycle is done: take every event of the next
            if totals[T_HEAP] == 0:
                break
            now = heap[0, 0]
            nb = 0
            while totals[T_HEAP] > 0 and heap[0, 0] == now:
                what = heap[0, 2]
                totals[T_HEAP] = _pop(heap, totals[T_HEAP])
                if nb == batch.shape[0]:
                    grown = np.empty(2 * nb + max_event_log + 2, np.int64)
                    grown[:nb] = batch[:nb]
                    batch = grown
                batch[nb] = what
                nb += 1
                if what & 7 != COMPLETE:
                    due[(what & (SHIFT - 1)) >> 3] += 1
            totals[T_BATCH_N], totals[T_BATCH_AT] = nb, 0
            continue
        what = batch[totals[T_BATCH_AT]]
        totals[T_BATCH_AT] += 1
        tag = what >> TAG_BITS
        pe = (what & (SHIFT - 1)) >> 3
        kind = what & 7
        flags = st[pe, S_FLAGS]
        if kind != COMPLETE:  # -- a message arrives (`BlockProgram.receive`)
            due[pe] -= 1
            got = 0
            if kind == X or kind == E:
                pieces = st[pe, S_XP] if kind == X else st[pe, S_EP]
                nbytes = st[pe, S_COL_BYTES] if kind == X else st[pe, S_ROW_BYTES]
                if pieces == 1:
                    got = 3
                else:
                    got = _count(q, st, pe, QX if kind == X else QE, tag, pieces, -1)
                if got < 0:
                    status = OVERFLOW
                    break
                if got >= 2:  # its first piece: the buffer is taken
                    _alloc(st, pe, nbytes)
                if got & 1 and not _push_q(q, st, pe, QI if kind == X else QD, tag):
                    status = OVERFLOW
                    break
            elif kind == Y:
                label[tag] = True
            elif kind == D_:
                _alloc(st, pe, st[pe, S_ROW_BYTES])
                if not _push_q(q, st, pe, QD, tag):
                    status = OVERFLOW
                    break
            else:  # a child's subtotal on the row's tree (p) or the column's (q); S_ROW_PARTS, S_COL_PARTS: how many
                _alloc(st, pe, st[pe, S_ROW_BYTES] if kind == P else st[pe, S_COL_BYTES])
                got = _count(q, st, pe, QR if kind == P else QC, tag,
                             -st[pe, S_ROW_PARTS] if kind == P else -st[pe, S_COL_PARTS], 1)
                if got < 0:
                    status = OVERFLOW
                    break
                if got == 1 and not _push_q(q, st, pe, QS, 2 * tag + (0 if kind == P else 1)):
                    status = OVERFLOW
                    break
        else:  # -- the op on pe has finished: its `finish`
            st[pe, S_BUSY] = 0
            done = st[pe, S_CUR_KIND]
            s = st[pe, S_CUR_S]
            out = 0  # 1: send h_r's pieces up; 2: send dL/dx_c's pieces down
            if done == F and st[pe, S_C] > 1:  # a partial: on to the row's tree (or it waits there)
                if st[pe, S_ROW_PARTS] == 1:  # it adds nothing on its row: its partial goes straight on
                    _send(st[pe, S_P_SEND], now, send_src, send_kind, send_bytes, dst_off, dsts, pe_r, pe_c, cols,
                          hop_latency, bandwidth, contention, links, totals, traffic, mlog, mbase, heap, batch, due,
                          s)
            elif done == A and not (st[pe, S_CUR_SUM] == 0 and flags & ROW_END):
                if st[pe, S_CUR_SUM] == 1 and flags & COL_END:  # the column's sum is dL/dx_c
                    out = 2
                else:  # a subtotal, to its parent on the tree
                    _send(st[pe, S_P_SEND] if st[pe, S_CUR_SUM] == 0 else st[pe, S_Q_SEND], now, send_src, send_kind,
                          send_bytes, dst_off, dsts, pe_r, pe_c, cols, hop_latency, bandwidth, contention, links,
                          totals, traffic, mlog, mbase, heap, batch, due, s)
            elif done == F or done == A:  # h_r is complete (`_output`'s finish): up, or at the top its delta
                if flags & TOP:
                    if not _push_q(q, st, pe, QD, s):
                        status = OVERFLOW
                        break
                else:
                    out = 1
            elif done == B:
                if flags & ROW_END and st[pe, S_C] > 1:
                    _send(st[pe, S_D_SEND], now, send_src, send_kind, send_bytes, dst_off, dsts, pe_r, pe_c, cols,
                          hop_latency, bandwidth, contention, links, totals, traffic, mlog, mbase, heap, batch, due,
                          s)
                if not flags & FIRST:
                    if st[pe, S_R] == 1:
                        out = 2
                    elif st[pe, S_COL_PARTS] == 1:
                        _send(st[pe, S_Q_SEND], now, send_src, send_kind, send_bytes, dst_off, dsts, pe_r, pe_c, cols,
                              hop_latency, bandwidth, contention, links, totals, traffic, mlog, mbase, heap, batch,
                              due, s)
                if st[pe, S_CUR_ENDS]:  # it ended a gradient
                    st[pe, S_PENDING] = 1
            elif flags & COUNTS:  # layer 1's update: the samples trained, and an evaluation if one is due
                totals[T_TRAINED] = s + 1
                if s + 1 - totals[T_LAST_EVAL] >= eval_every:
                    n_evals = totals[T_N_EVALS]
                    if n_evals == evals.shape[1]:
                        grown2 = np.empty((3, 2 * n_evals), np.int64)
                        grown2[:, :n_evals] = evals
                        evals = grown2
                    evals[0, n_evals], evals[1, n_evals], evals[2, n_evals] = s + 1, now, n_ops
                    totals[T_N_EVALS] = n_evals + 1
                    totals[T_LAST_EVAL] = s + 1
            if out:
                first = st[pe, S_OUT_OFF] if out == 1 else st[pe, S_BACK_OFF]
                count = st[pe, S_OUT_N] if out == 1 else st[pe, S_BACK_N]
                for m in range(first, first + count):
                    _send(m, now, send_src, send_kind, send_bytes, dst_off, dsts, pe_r, pe_c, cols, hop_latency,
                          bandwidth, contention, links, totals, traffic, mlog, mbase, heap, batch, due, s)
        # -- the PE chooses (`PE._decide`): unless busy or a message is still due this cycle ----------
        if st[pe, S_BUSY] or due[pe] > 0:
            continue
        op = -1
        cap = st[pe, S_CAP]
        qoff = st[pe, S_QOFF]
        if st[pe, S_PENDING]:
            op = U
        elif st[pe, S_SUM_N] > 0:
            op = A
        else:
            if st[pe, S_IN_N] > 0 and st[pe, S_HELD_N] < st[pe, S_WINDOW]:
                s = q[qoff + QI * cap + st[pe, S_IN_HEAD]]
                if (gate_batch == 0 or s // gate_batch <= st[pe, S_VERSION]) and (not flags & TOP or label[s]):
                    op = F
            if op < 0 and st[pe, S_DE_N] > 0:
                op = B
        if op < 0:
            continue
        if n_ops == max_ops:
            status = STOPPED
            break
        if op == F:  # `BlockProgram.forward`
            if st[pe, S_HELD_N] == cap:
                status = OVERFLOW
                break
            s = _pop_q(q, st, pe, QI)
            i = st[pe, S_HELD_HEAD] + st[pe, S_HELD_N]
            if i >= cap:
                i -= cap
            q[qoff + QH * cap + i] = s
            q[qoff + QV * cap + i] = st[pe, S_VERSION]
            held_c[qoff // QUEUES + i] = 0
            st[pe, S_HELD_N] += 1
            if st[pe, S_HELD_N] > st[pe, S_MAX_IN_FLIGHT]:
                st[pe, S_MAX_IN_FLIGHT] = st[pe, S_HELD_N]
            if flags & COUNTS and totals[T_SENT] < n:  # layer 1 took a sample in: the port sends the next
                nxt = totals[T_SENT]
                for m in range(port_first, port_stop):
                    _send(m, now, send_src, send_kind, send_bytes, dst_off, dsts, pe_r, pe_c, cols, hop_latency,
                          bandwidth, contention, links, totals, traffic, mlog, mbase, heap, batch, due, nxt)
                totals[T_SENT] = nxt + 1
            if st[pe, S_C] == 1:
                if flags & TOP:
                    label[s] = False
                _alloc(st, pe, st[pe, S_ROW_BYTES])
            elif st[pe, S_ROW_PARTS] > 1:  # its partial waits for its children's subtotals
                _alloc(st, pe, st[pe, S_ROW_BYTES])
                got = _count(q, st, pe, QR, s, -st[pe, S_ROW_PARTS], 1)
                if got < 0 or (got == 1 and not _push_q(q, st, pe, QS, 2 * s)):
                    status = OVERFLOW
                    break
            cycles = st[pe, S_CF]
        elif op == A:  # `BlockProgram.sum`
            v = _pop_q(q, st, pe, QS)
            s = v >> 1
            st[pe, S_CUR_SUM] = v & 1
            if v & 1 == 0:
                st[pe, S_SRAM] -= st[pe, S_ROW_PARTS] * st[pe, S_ROW_BYTES]
                if flags & ROW_END:  # `_output`: h_r held (the top layer: its label taken)
                    if flags & TOP:
                        label[s] = False
                    _alloc(st, pe, st[pe, S_ROW_BYTES])
                cycles = st[pe, S_CAR]
            else:
                st[pe, S_SRAM] -= st[pe, S_COL_PARTS] * st[pe, S_COL_BYTES]
                cycles = st[pe, S_CAC]
        elif op == B:  # `BlockProgram.backward`
            s = _pop_q(q, st, pe, QD)
            head = st[pe, S_HELD_HEAD]
            if q[qoff + QH * cap + head] != s:
                status = OUT_OF_ORDER
                break
            v = q[qoff + QV * cap + head]
            if flags & ANCHORED and held_c[qoff // QUEUES + head]:
                st[pe, S_SRAM] -= st[pe, S_STASH]
            st[pe, S_HELD_HEAD] = 0 if head + 1 == cap else head + 1
            st[pe, S_HELD_N] -= 1
            freed = st[pe, S_COL_BYTES] + st[pe, S_ROW_BYTES]
            if flags & ROW_END and not flags & TOP:
                freed += st[pe, S_ROW_BYTES]
            st[pe, S_SRAM] -= freed
            if st[pe, S_GROUP_N] == 0 or v < st[pe, S_GROUP_MIN]:
                st[pe, S_GROUP_MIN] = v
            st[pe, S_GROUP_N] += 1
            st[pe, S_GROUP_LAST] = s
            st[pe, S_CUR_ENDS] = 1 if (group_batch == 0 or (s + 1) % group_batch == 0 or s == n - 1) else 0
            if not flags & FIRST and st[pe, S_R] > 1 and st[pe, S_COL_PARTS] > 1:  # it waits for its children's
                _alloc(st, pe, st[pe, S_COL_BYTES])
                got = _count(q, st, pe, QC, s, -st[pe, S_COL_PARTS], 1)
                if got < 0 or (got == 1 and not _push_q(q, st, pe, QS, 2 * s + 1)):
                    status = OVERFLOW
                    break
            cycles = st[pe, S_CB]
        else:  # U: `LayerProgram.update`
            st[pe, S_PENDING] = 0
            if flags & ANCHORED and st[pe, S_HELD_N] > 0:
                tail = st[pe, S_HELD_HEAD] + st[pe, S_HELD_N] - 1
                if tail >= cap:
                    tail -= cap
                if q[qoff + QV * cap + tail] == st[pe, S_VERSION]:  # held samples still read these weights
                    held_c[qoff // QUEUES + tail] = 1
                    _alloc(st, pe, st[pe, S_STASH])
            if flags & REPORTS:
                u = totals[T_N_UPDATES]
                stale_layer[u], stale_value[u] = st[pe, S_LAYER], st[pe, S_VERSION] - st[pe, S_GROUP_MIN]
                totals[T_N_UPDATES] = u + 1
            st[pe, S_VERSION] += 1
            st[pe, S_UPDATES] += 1
            st[pe, S_APPLIED] += st[pe, S_GROUP_N]
            st[pe, S_GROUP_N] = 0
            s = st[pe, S_GROUP_LAST]
            cycles = st[pe, S_CU]
        st[pe, S_BUSY] = 1
        st[pe, S_CUR_KIND] = op
        st[pe, S_CUR_S] = s
        st[pe, S_BUSY_CYCLES] += cycles
        st[pe, S_BUSY_UNTIL] = now + cycles
        st[pe, S_PE_OPS] += 1
        if record_ops:
            j = n_ops - ops_base
            op_layer[j], op_kind[j], op_tag[j] = pe, op, s
            if record_times:
                op_start[j], op_end[j] = now, now + cycles
        n_ops += 1
        seq = totals[T_SEQ]
        totals[T_SEQ] = seq + 1
        if cycles == 0:  # it ends within the cycle being processed: after everything scheduled so far
            batch[totals[T_BATCH_N]] = s * SHIFT + pe * 8 + COMPLETE
            totals[T_BATCH_N] += 1
        else:
            totals[T_HEAP] = _push(heap, totals[T_HEAP], now + cycles, seq, s * SHIFT + pe * 8 + COMPLETE)
    totals[T_NOW], totals[T_OPS], totals[T_STATUS] = now, n_ops, status
    return heap, batch, evals
