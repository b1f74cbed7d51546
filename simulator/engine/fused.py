"""The fused replay: a pipelined or all-reduce run's arithmetic in one compiled loop over the timing pass's op log.

It does what `replay.Replay` does on `layers.Dense` objects, with the same kernels
(`wafersim_kernels`) on preallocated buffers, for dense layers trained with plain SGD or
heavy-ball momentum (any learning-rate schedule): so the floats are the event engine's,
bit for bit (the tests compare). Other optimizers and layer types replay through `Replay`.
A streamed update (plain SGD, one sample per gradient) that is its layer's next op after
a backward is done with it, in one pass over the weights (`backward_update`): nothing in
between touches that layer's weights, so the floats are the same and the weights are read
once instead of twice.

Buffers, per PE p (cap_p = min(window_p, samples): a layer holds at most that many
samples, and they are consecutive ids, within one minibatch under all-reduce, so sample s
has row s % cap_p):
    outs[p]   (cap_p, n_out)  its output h of each held sample (the top layer: dL/dz)
    dels[p]   (cap_p, n_out)  the delta dL/dh from the layer above, waiting for p's backward
    stash[p]  (cap_p, n_out, n_in)  old weight copies (anchored rule), a ring, oldest first
    dz[p]     (n_out,)        dL/dz of the last backward (what a streamed update applies)
    g[p]      (n_out n_in + n_out,)  the gradient being summed, W then b
"""

from __future__ import annotations

import numpy as np
from wafersim_kernels import (IDENTITY, accumulate_gradient, activation_backward, axpy, delta_to_input, dense_forward,
                              momentum_accumulate, rank_one_update, softmax_cross_entropy, zero)
from wafersim_kernels._jit import cached_njit, fast_njit

from ..layers import Dense
from ..optimizers import UpdateInfo
from .pipeline_pass import AUX_KEEP, AUX_RELEASE, AUX_STASHED, COUNT_SHIFT
from .replay import NonFinite

NO_DIRECTIONS: list = []  # a learning_rate transform asked for its coefficient alone

FUSED_OPTIMIZERS = {("average", "learning_rate"): False, ("average", "momentum", "learning_rate"): True}


def fusable(layers: list) -> bool:
    """Can the fused loop replay these layers (dense, trained with plain SGD or momentum)?"""
    return all(type(layer) is Dense and tuple(p.name for p in layer.optimizer.parts) in FUSED_OPTIMIZERS
               for layer in layers)


@cached_njit
def _scale(a, factor):
    """a *= factor in place, one IEEE multiply per element (numpy's `*=` on float32, not fused)."""
    af = a.reshape(-1)
    for i in range(af.shape[0]):
        af[i] = af[i] * factor


# The buffers of `Packed`, by kind (each per PE): weights, biases, the gradient (one flat array,
# W then b, so that all-reduce chunks are slices of it), momentum velocities, held outputs,
# waiting deltas, dL/dz of the last backward, weight stashes, and (for the first worker's
# layers) the all-reduced gradient of the current update.
KW, KB, KG, KVW, KVB, KOUT, KDEL, KDZ, KSTASH, KFINAL = range(10)
ALIGN = 16  # floats: every array starts on a 64-byte boundary


class Packed:
    """Float32 arrays of several kinds laid end to end in one aligned buffer, so that one compiled call takes them all.

    Array (kind j, layer k) is buf[off[j, k]:] of shape shape[j, k] (its first ndim entries),
    `view(j, k)` from Python, `_v1/_v2/_v3` in compiled code. (Numba's typed lists would do, but
    build slowly in every process and cost a reference count per access.)
    """

    def __init__(self, kinds: list[list[np.ndarray]]):
        J, D = len(kinds), len(kinds[0])
        self.off = np.zeros((J, D), np.int64)
        self.shape = np.ones((J, D, 3), np.int64)
        self.ndim = np.zeros((J, D), np.int64)
        total = 0
        for j, arrays in enumerate(kinds):
            for k, a in enumerate(arrays):
                self.off[j, k], self.ndim[j, k] = total, a.ndim
                self.shape[j, k, :a.ndim] = a.shape
                total += -(-a.size // ALIGN) * ALIGN
        base = np.zeros(total + ALIGN, np.float32)
        skip = (-base.ctypes.data // 4) % ALIGN  # floats to the first 64-byte boundary
        self.buf = base[skip: skip + total]
        for j, arrays in enumerate(kinds):
            for k, a in enumerate(arrays):
                self.view(j, k)[...] = a

    def view(self, j: int, k: int) -> np.ndarray:
        shape = tuple(int(n) for n in self.shape[j, k, : self.ndim[j, k]])
        start = int(self.off[j, k])
        return self.buf[start: start + int(np.prod(shape))].reshape(shape)


@cached_njit(inline="always")
def _v1(buf, off, shp, j, k):
    """Array (j, k) of a `Packed` buffer, 1-D."""
    return buf[off[j, k]: off[j, k] + shp[j, k, 0]]


@cached_njit(inline="always")
def _v2(buf, off, shp, j, k):
    """Array (j, k) of a `Packed` buffer, 2-D."""
    return buf[off[j, k]: off[j, k] + shp[j, k, 0] * shp[j, k, 1]].reshape((shp[j, k, 0], shp[j, k, 1]))


@cached_njit(inline="always")
def _v3(buf, off, shp, j, k):
    """Array (j, k) of a `Packed` buffer, 3-D."""
    n = shp[j, k, 0] * shp[j, k, 1] * shp[j, k, 2]
    return buf[off[j, k]: off[j, k] + n].reshape((shp[j, k, 0], shp[j, k, 1], shp[j, k, 2]))


@cached_njit(inline="always")
def _gradient(buf, off, shp, p):
    """PE p's gradient (`Packed` kind KG, W then b) as its W part (n_out, n_in) and b part (n_out,)."""
    n_out, n_in = shp[KW, p, 0], shp[KW, p, 1]
    g = _v1(buf, off, shp, KG, p)
    return g[: n_out * n_in].reshape((n_out, n_in)), g[n_out * n_in: n_out * n_in + n_out]


@fast_njit  # the flags of delta_to_input and rank_one_update, whose two loops this is
def backward_update(W, b, dz, x, delta, alpha, update_bias):
    """delta_to_input(W, dz, delta), then rank_one_update(W, b, dz, x, alpha, update_bias), in one
    pass over W: row i is read for the delta before it is updated, and each sum runs in the
    same order, so the floats are those of the two kernels one after the other."""
    n_out, n_in = W.shape
    for j in range(n_in):
        delta[j] = 0.0
    a = W.dtype.type(alpha)
    for i in range(n_out):
        e = dz[i]
        d = a * e
        for j in range(n_in):
            delta[j] += W[i, j] * e
            W[i, j] += d * x[j]
        if update_bias:
            b[i] += d


@cached_njit
def replay_ops(op_layer, op_kind, op_tag, op_aux, coef, start, stop, buf, off, shp, D, bounds, stash_head, stash_n,
               z, acts, streams, bias, momentum, mu, X, y, order, losses, recent, counters):
    """Do ops start..stop-1 on the buffers of PEs p = w * D + k (`Packed`: buf, off, shp);
    return the index reached (an op whose loss is not finite is not done).

    coef[i]: the step coefficient -lr of U op i. bounds[k, c]: where all-reduce chunk c of
    layer k's flat gradient starts (c = N: its end). counters[0]: the losses in `recent` so
    far (the loss that stops the loop is left in the next entry, not counted).
    """
    P = off.shape[1]
    N = P // D
    top = D - 1
    early = np.zeros(stop - start, np.bool_)  # U ops done already, with the backward before them
    for i in range(start, stop):
        if early[i - start]:
            continue
        p = op_layer[i]
        k = p if N == 1 else p % D  # its layer
        kind = op_kind[i]
        s = op_tag[i]
        aux = op_aux[i]
        if kind == 4:  # R at ring step `aux`: worker w adds chunk (w-1-step) mod N from worker w-1
            c = (p // D - 1 - aux + N) % N
            g, prev = _v1(buf, off, shp, KG, p), _v1(buf, off, shp, KG, (p - D + P) % P)
            for t in range(bounds[k, c], bounds[k, c + 1]):
                g[t] = g[t] + prev[t]
            if aux == N - 2:  # the chunk's sum is complete: every worker's update applies it
                final = _v1(buf, off, shp, KFINAL, k)
                for t in range(bounds[k, c], bounds[k, c + 1]):
                    final[t] = g[t]
            continue
        row = order[s]
        W = _v2(buf, off, shp, KW, p)
        b = _v1(buf, off, shp, KB, p)
        outs = _v2(buf, off, shp, KOUT, p)
        h = outs[s % outs.shape[0]]
        if k == 0:
            x = X[row]
        else:
            below = _v2(buf, off, shp, KOUT, p - 1)
            x = below[s % below.shape[0]]
        if kind == 0:  # F
            if k == top:
                dense_forward(W, b, x, z, IDENTITY)
                loss = softmax_cross_entropy(z, y[row], h)
                recent[counters[0]] = loss
                if not np.isfinite(loss):
                    return i
                losses[s] = loss
                counters[0] += 1
            else:
                dense_forward(W, b, x, h, acts[p])
        elif kind == 1:  # B
            if k == top:
                dz = h
            else:
                dz = _v1(buf, off, shp, KDZ, p)
                dels = _v2(buf, off, shp, KDEL, p)
                activation_backward(h, dels[s % dels.shape[0]], dz, acts[p])
            if not streams[p]:
                gW, gb = _gradient(buf, off, shp, p)
                accumulate_gradient(gW, gb, dz, x)
            stash = _v3(buf, off, shp, KSTASH, p)
            u = i + (aux >> COUNT_SHIFT)  # the layer's next op, if it is this B's U (a streamed one here)
            if u > i and u < stop and streams[p] and not aux & AUX_STASHED:
                # Its update now, in the same pass over W as the delta: no op between the two
                # touches this layer's weights, dz or input.
                if op_aux[u] & AUX_KEEP:
                    slot = (stash_head[p] + stash_n[p]) % stash.shape[0]
                    stash[slot][:, :] = W
                    stash_n[p] += 1
                if k > 0:
                    dels_below = _v2(buf, off, shp, KDEL, p - 1)
                    backward_update(W, b, dz, x, dels_below[s % dels_below.shape[0]], coef[u], bias)
                else:
                    rank_one_update(W, b, dz, x, coef[u], bias)
                early[u - start] = True
            elif k > 0:
                weights = W
                if aux & AUX_STASHED:
                    weights = stash[stash_head[p]]
                dels_below = _v2(buf, off, shp, KDEL, p - 1)
                delta_to_input(weights, dz, dels_below[s % dels_below.shape[0]])
            if aux & AUX_RELEASE:
                stash_head[p] = (stash_head[p] + 1) % stash.shape[0]
                stash_n[p] -= 1
        else:  # U, for the group ending with sample s
            if aux & AUX_KEEP:
                stash = _v3(buf, off, shp, KSTASH, p)
                slot = (stash_head[p] + stash_n[p]) % stash.shape[0]
                stash[slot][:, :] = W
                stash_n[p] += 1
            c = coef[i]
            if streams[p]:  # W += c dz x^T from the factors the backward of s just made
                dz = h if k == top else _v1(buf, off, shp, KDZ, p)
                rank_one_update(W, b, dz, x, c, bias)
            else:
                count = aux >> COUNT_SHIFT
                if N > 1:  # all-reduce: the gradient is the ring's sum, which the all-gather left here
                    g, final = _v1(buf, off, shp, KG, p), _v1(buf, off, shp, KFINAL, k)
                    g[:] = final
                gW, gb = _gradient(buf, off, shp, p)
                if count != 1:
                    factor = np.float32(1.0 / count)
                    _scale(gW, factor)
                    if bias:
                        _scale(gb, factor)
                if momentum:
                    vW, vb = _v2(buf, off, shp, KVW, p), _v1(buf, off, shp, KVB, p)
                    momentum_accumulate(vW, gW, mu)
                    axpy(W, vW, c)
                    if bias:
                        momentum_accumulate(vb, gb, mu)
                        axpy(b, vb, c)
                else:
                    axpy(W, gW, c)
                    if bias:
                        axpy(b, gb, c)
                zero(gW)
                zero(gb)
    return stop


@cached_njit
def _samples_before(layer, counts, seen):
    """For each update (its layer, its count of samples, in order): the samples its layer had
    applied before it, `seen[k]` (layer k's samples applied so far) counted on."""
    before = np.empty_like(counts)
    for i in range(layer.shape[0]):
        before[i] = seen[layer[i]]
        seen[layer[i]] += counts[i]
    return before


class FusedReplay:
    """`replay.Replay` for dense layers with SGD or momentum, as one compiled loop (`replay_ops`) per chunk of ops.

    All-reduce as `Replay` does it: an R op adds the previous worker's copy of its chunk into
    the PE's own; the R that completes a chunk keeps it in the layer's KFINAL buffer, which
    every worker's U applies.
    """

    def __init__(self, layers: list, X: np.ndarray, y: np.ndarray, order: np.ndarray, losses, caps: list[int],
                 mu: float, anchored: list[bool], depth: int | None = None, chunks: list[list[slice]] | None = None):
        """`layers[w * depth + k]`: layer k of worker w (one worker unless all-reduce, whose
        `chunks` are each layer's ring chunks of the flat gradient); caps: the samples each
        holds at most; anchored: the layers that keep weight stashes."""
        self.layers, self.losses = layers, losses
        D = depth or len(layers)
        self.depth = D
        bounds = [[c.start for c in layer] + [layer[-1].stop] for layer in chunks] if chunks else [[0, 0]] * D
        self.bounds = np.array(bounds, dtype=np.int64)
        self.X = np.ascontiguousarray(X, dtype=np.float32)
        self.y = np.ascontiguousarray(y, dtype=np.int64)
        self.order = np.ascontiguousarray(order, dtype=np.int64)
        first = layers[0]
        self.momentum = FUSED_OPTIMIZERS[tuple(p.name for p in first.optimizer.parts)]
        self.mu = float(mu) if self.momentum else 0.0  # the momentum section's mu (the transform keeps it in a closure)
        shapes = [layer.shape for layer in layers]
        f32 = np.float32

        def zeros(*shape):
            return np.zeros(shape, dtype=f32)

        one = zeros(ALIGN)  # a placeholder where a layer has no array of a kind
        grads = [np.concatenate([layer.grad_W.ravel(), layer.grad_b]) if not layer.streams else one[:1]
                 for layer in layers]
        finals = [zeros(sh.n_out * sh.n_in + sh.n_out) if p < D and len(layers) > D else one[:1]
                  for p, sh in enumerate(shapes)]
        if self.momentum:  # the chain's state: ({}, {"v": [vW, vb]}, {}), updated in place
            self.velocities = [layer.opt_state[1]["v"] for layer in layers]
            vs = [(v[0], v[1] if len(v) > 1 else one[:1]) for v in self.velocities]
        else:
            self.velocities = []
            vs = [(one[:1].reshape(1, 1), one[:1])] * len(layers)
        self.packed = Packed([
            [layer.W for layer in layers], [layer.b for layer in layers], grads,
            [v[0] for v in vs], [v[1] for v in vs],
            [zeros(c, sh.n_out) for c, sh in zip(caps, shapes)], [zeros(c, sh.n_out) for c, sh in zip(caps, shapes)],
            [zeros(sh.n_out) for sh in shapes],
            [zeros(c, sh.n_out, sh.n_in) if keeps else zeros(1, 1, 1) for c, sh, keeps in zip(caps, shapes, anchored)],
            finals])
        self.stash_head = np.zeros(len(layers), np.int64)
        self.stash_n = np.zeros(len(layers), np.int64)
        self.z = zeros(shapes[-1].n_out)
        self.acts = np.array([layer.act for layer in layers], dtype=np.int64)
        self.streams = np.array([layer.streams for layer in layers], dtype=np.bool_)
        self.bias = bool(shapes[0].bias)
        self.recent = np.empty(len(self.order) + 1, dtype=np.float64)
        self.counters = np.zeros(1, dtype=np.int64)
        self.coef: np.ndarray | None = None  # the step coefficient of each op of `coef_of`
        self.coef_of = None  # the chunk of the timing pass's log they are for
        self.seen = np.zeros(len(layers), np.int64)  # samples each layer has applied, over the chunks so far

    def coefficients(self, tl) -> np.ndarray:
        """Each U op's step coefficient, as its optimizer's learning_rate transform gives it:
        -lr(UpdateInfo(samples applied before, samples in the gradient)), one call per distinct
        (transform, samples, count) (the layers of a pipeline share one optimizer)."""
        coef = np.zeros(len(tl.op_kind), dtype=np.float64)
        u = np.nonzero(tl.op_kind == 2)[0]
        if not len(u):
            return coef
        layer, counts = tl.op_layer[u].astype(np.int64), tl.op_aux[u] >> COUNT_SHIFT
        before = _samples_before(layer, counts, self.seen)
        rates = [layer.optimizer.parts[-1] for layer in self.layers]
        owner = {id(rate): i for i, rate in reversed(list(enumerate(rates)))}  # the first layer with each transform
        which = np.array([owner[id(rate)] for rate in rates], dtype=np.int64)[layer]
        # One int64 key per (transform, samples before, count), a 1-D unique being much faster than
        # one over rows; it stays below 2**63 (layers x samples x batch size).
        n_before, n_count = int(before.max()) + 1, int(counts.max()) + 1
        keys = (which * n_before + before) * n_count + counts
        unique, inverse = np.unique(keys, return_inverse=True)
        values = []
        for key in unique.tolist():
            rest, count = divmod(key, n_count)
            w, samples = divmod(rest, n_before)
            values.append(rates[w].update(NO_DIRECTIONS, 1.0, {}, UpdateInfo(samples, count))[1])
        coef[u] = np.array(values, dtype=np.float64)[inverse]
        return coef

    def run(self, tl, start: int, stop: int) -> None:
        """Do ops start..stop-1 of the timeline; raise NonFinite at a non-finite loss (that op not done)."""
        if self.coef_of is not tl:  # a new chunk of the log (they come in order)
            self.coef, self.coef_of = self.coefficients(tl), tl
        before = int(self.counters[0])
        pk = self.packed
        reached = replay_ops(tl.op_layer, tl.op_kind, tl.op_tag, tl.op_aux, self.coef, start, stop, pk.buf, pk.off,
                             pk.shape, self.depth, self.bounds, self.stash_head, self.stash_n, self.z, self.acts, self.streams, self.bias,
                             self.momentum, self.mu, self.X, self.y, self.order, self.losses.by_sample, self.recent,
                             self.counters)
        self._copy_back()
        self.losses.recent.extend(self.recent[before:int(self.counters[0])].tolist())
        if reached < stop:
            s = int(tl.op_tag[reached])
            raise NonFinite(reached, s, float(self.recent[int(self.counters[0])]))

    def _copy_back(self) -> None:
        """The layers' own arrays (the run's weights, evaluated and saved, and the optimizer state) from the buffer."""
        pk = self.packed
        for k, layer in enumerate(self.layers):
            np.copyto(layer.W, pk.view(KW, k))
            np.copyto(layer.b, pk.view(KB, k))
        for k, v in enumerate(self.velocities):
            for j, array in zip((KVW, KVB), v):
                np.copyto(array, pk.view(j, k))
