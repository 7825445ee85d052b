"""One party's runtime: its local shares, its context, and the ops the driver can ask for.

The driver (``Session``) never holds a share of a secret value except when it is the output
receiver of ``reveal``. It sends each party the same command — an op name, the ids of the
shared operands, public values — and every party runs the same protocol code on its own share.

Errors leave a party only in SECURED's own words: an error raised by a library inside a party
(numpy, pandas, pyarrow, the filesystem) may quote the party's data ("could not convert 'XYZ'
to float"), so ``Party.run`` replaces it by a ``PartyError`` naming the party, the op and the
error's type, and nothing of its message.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import numpy as np

from ..backend import get_backend, new_key
from ..exceptions import BadInputError, PartyError, PartyRefused, SecuredError
from . import _nonlinear as N
from . import _protocols as P
from . import _tables as T

__all__ = ["Party", "OPS", "COMMANDS"]


def _op_add(ctx, x, y):
    return ctx.be.add(x, y)


def _op_sub(ctx, x, y):
    return ctx.be.sub(x, y)


def _op_neg(ctx, x):
    return ctx.be.neg(x)


def _op_add_public(ctx, x, c):
    return ctx.be.add(x, c) if ctx.rank == 0 else x


def _op_rsub_public(ctx, x, c):
    return ctx.be.sub(c, x) if ctx.rank == 0 else ctx.be.neg(x)


def _op_mul_public_int(ctx, x, c):
    return ctx.be.mul(x, c)


def _op_mul_public(ctx, x, c, bits=None):
    """x times a public real encoded with ``bits`` fractional bits (the session's by default;
    more for a small factor, ``tensor._extra_bits``)."""
    return P.truncate(ctx, ctx.be.mul(x, c), ctx.fractional_bits if bits is None else int(bits))


def _op_matmul_public(ctx, x, w, left):
    product = ctx.be.matmul(w, x) if left else ctx.be.matmul(x, w)
    return P.truncate(ctx, product, ctx.fractional_bits)


def _op_mul(ctx, x, y):
    return P.truncate(ctx, P.beaver(ctx, x, y, "mul"), ctx.fractional_bits)


def _op_matmul(ctx, x, y):
    return P.truncate(ctx, P.beaver(ctx, x, y, "matmul"), ctx.fractional_bits)


def _op_square(ctx, x):
    return P.truncate(ctx, P.square(ctx, x), ctx.fractional_bits)


def _host(ctx, x):
    """x as a contiguous host (numpy) array: the FSS gates' keys and DCF walks are the host's
    (on a GPU session the masked values go to the host and the results come back)."""
    return np.ascontiguousarray(ctx.be.to_numpy(x), dtype=np.uint64)


def _fss_nonneg(ctx, x):
    """Additive 0/1 shares of [x >= 0] with the FSS DReLU gate (2 rounds)."""
    from . import fss

    key = ctx.fss_key("sign", x.shape)
    return ctx.be.asarray(fss.drelu(ctx.comm, _host(ctx, x), key))


def _op_ltz(ctx, x):
    """[x < 0] as fixed point 0.0 / 1.0."""
    if ctx.use_fss("ltz", int(np.prod(x.shape))):
        nonneg = _fss_nonneg(ctx, x)
        below = ctx.be.neg(nonneg)
        return ctx.be.lshift(ctx.be.add(below, 1) if ctx.rank == 0 else below, ctx.fractional_bits)
    return ctx.be.lshift(P.ltz(ctx, x), ctx.fractional_bits)


def _op_relu(ctx, x):
    """max(x, 0) = x * (1 - [x < 0]), the sign bit injected straight from its XOR shares (or the
    FSS ReLU gate: 2 rounds, 8.125 bytes per element)."""
    if ctx.use_fss("relu", int(np.prod(x.shape))):
        from . import fss

        key = ctx.fss_key("sign", x.shape)
        return ctx.be.asarray(fss.relu(ctx.comm, _host(ctx, x), key))
    return P.mul_bit(ctx, x, P.msb_bits(ctx, x), complement=True)


SPLINE_CHUNK = 2048
RING_SPLINE_CHUNK = 8192


def _spline_op(kind: str, classic):
    """sigmoid / tanh (and the reciprocal and rsqrt tables): the FSS spline gate with
    protocol='fss' at 2 parties (2 rounds, 5 bytes per element, inputs with |x| < 2^13), else
    the classic protocol the cost model prefers on the session's link: ``classic`` (exp and a
    reciprocal) or the same table as the masked spline on the whole ring, any number of parties
    (5 rounds); the tables (``classic`` None) always take the masked spline there."""
    def op(ctx, x):
        from . import fss

        elements = int(np.prod(x.shape))
        if ctx.use_fss(kind, elements):
            # keys are ~40 KB per element: chunks of SPLINE_CHUNK values bound the dealer's and the
            # parties' memory (2 rounds per chunk)
            flat, parts = _host(ctx, x).reshape(-1), []
            for start in range(0, max(elements, 1), SPLINE_CHUNK):
                piece = flat[start:start + SPLINE_CHUNK]
                parts.append(fss.spline(ctx.comm, piece, ctx.fss_key(kind, piece.shape, ctx.fractional_bits)))
            return ctx.be.asarray(np.concatenate(parts).reshape(x.shape))
        from .costs import CostModel

        if classic is None or (ctx.costs or CostModel()).classic_variant(elements, ctx.n_parties) == "spline":
            ctx.choices[kind]["spline"] = ctx.choices[kind].get("spline", 0) + 1
            table = fss.ring_spline(kind, ctx.fractional_bits)
            # the dealer's tables are ~4.9 KB per element and party: chunks of RING_SPLINE_CHUNK
            flat, parts = ctx.be.xp.ascontiguousarray(x).reshape(-1), []
            for start in range(0, max(elements, 1), RING_SPLINE_CHUNK):
                parts.append(N.spline(ctx, flat[start:start + RING_SPLINE_CHUNK], table))
            return ctx.be.xp.concatenate(parts).reshape(x.shape)
        return classic(ctx, x)
    op.__name__ = f"_op_{kind}"
    return op


def _op_conv2d(ctx, x, w, stride, padding):
    return P.truncate(ctx, P.beaver(ctx, x, w, "conv", (stride, padding)), ctx.fractional_bits)


def _op_conv2d_public(ctx, x, w, stride, padding):
    return P.truncate(ctx, P.ring_conv2d(ctx.be, x, w, stride, padding), ctx.fractional_bits)


def _op_eq(ctx, x):
    """[x == 0] as fixed point: 1 - [x < 0] - [-x < 0]."""
    below, above = N.ltz_many(ctx, [x, ctx.be.neg(x)])
    out = ctx.be.neg(ctx.be.add(below, above))
    return ctx.be.lshift(ctx.be.add(out, 1) if ctx.rank == 0 else out, ctx.fractional_bits)


def _op_max(ctx, x, axis):
    return N.max_argmax(ctx, x, axis)[0]


def _op_argmax(ctx, x, axis):
    return N.max_argmax(ctx, x, axis)[1]


def _op_div(ctx, x, y):
    return N.mul(ctx, x, N.reciprocal(ctx, y))


def _op_relu_mask(party, x, mask_id):
    """max(x, 0), and [x >= 0] (fixed point 0.0 / 1.0) stored under ``mask_id`` for the
    backward pass: classic, the sign's XOR bits injected into x in one round, which also gives
    the mask's additive shares (6 rounds with the masked comparison, no truncation; ge0 then a
    product took one more, and a truncation round more at 3 parties); with FSS, the DReLU gate
    and a product."""
    if isinstance(mask_id, bool) or not isinstance(mask_id, int) or mask_id in party.store:
        raise PartyRefused(f"party {party.rank}: relu_mask stores its mask under a new tensor id.")
    ctx = party.ctx
    if ctx.use_fss("ge0", int(np.prod(x.shape))):
        mask = ctx.be.lshift(_fss_nonneg(ctx, x), ctx.fractional_bits)
        party.store[mask_id] = mask
        return N.mul(ctx, x, mask)
    y, keep = P.mul_bit(ctx, x, P.msb_bits(ctx, x), complement=True, with_bit=True)
    party.store[mask_id] = ctx.be.lshift(keep, ctx.fractional_bits)
    return y


def _op_ge0(ctx, x):
    """[x >= 0] as fixed point 0.0 / 1.0."""
    if ctx.use_fss("ge0", int(np.prod(x.shape))):
        return ctx.be.lshift(_fss_nonneg(ctx, x), ctx.fractional_bits)
    keep = ctx.be.neg(P.ltz(ctx, x))
    return ctx.be.lshift(ctx.be.add(keep, 1) if ctx.rank == 0 else keep, ctx.fractional_bits)


def _windows(ctx, x, kh, kw, stride, padding):
    """Sliding windows of an (N, C, H, W) share: (N, C, OH, OW, kh * kw). Local."""
    xp = ctx.be.xp
    if padding:
        x = xp.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    n, c, h, w = x.shape
    oh, ow = (h - kh) // stride + 1, (w - kw) // stride + 1
    out = xp.empty((n, c, oh, ow, kh * kw), dtype=x.dtype)
    for i in range(kh):
        for j in range(kw):
            out[..., i * kw + j] = x[:, :, i:i + stride * oh:stride, j:j + stride * ow:stride]
    return out


def _op_im2col(ctx, x, kh, kw, stride, padding):
    """(N, C, H, W) -> (N, OH*OW, C*kh*kw), the layout of conv2d as a matmul. Local."""
    win = _windows(ctx, x, kh, kw, stride, padding)  # (N, C, OH, OW, K)
    n, c, oh, ow, k = win.shape
    return ctx.be.xp.ascontiguousarray(win.transpose(0, 2, 3, 1, 4).reshape(n, oh * ow, c * k))


def _op_col2im(ctx, cols, shape, kh, kw, stride, padding):
    """Adjoint of im2col: scatter-add (N, OH*OW, C*kh*kw) back to (N, C, H, W). Local."""
    xp = ctx.be.xp
    n, c, h, w = shape
    hp, wp = h + 2 * padding, w + 2 * padding
    oh, ow = (hp - kh) // stride + 1, (wp - kw) // stride + 1
    win = cols.reshape(n, oh, ow, c, kh * kw).transpose(0, 3, 1, 2, 4)
    out = xp.zeros((n, c, hp, wp), dtype=cols.dtype)
    for i in range(kh):
        for j in range(kw):
            out[:, :, i:i + stride * oh:stride, j:j + stride * ow:stride] += win[..., i * kw + j]
    return xp.ascontiguousarray(out[:, :, padding:padding + h, padding:padding + w])


def _op_windows(ctx, x, kh, kw, stride, padding):
    return _windows(ctx, x, kh, kw, stride, padding)


def _op_concat(ctx, axis, *parts):
    return ctx.be.xp.concatenate(parts, axis=axis)


def _op_input_from(ctx, owner, name, bound=None):
    """Secret-share the owner's private array ``name`` (fixed point): the owner draws a
    uniform share for every other party from a fresh key, sends it, and keeps the rest.
    One round; only the owner sends. (A declared bound was checked by the owner before.)"""
    be = ctx.be
    if ctx.rank == owner:
        value = be.encode(ctx.private[name], ctx.fractional_bits)
        key = new_key()
        rest = value
        for dst in range(ctx.n_parties):
            if dst != owner:
                share = be.prg(key, dst, value.shape)
                rest = be.sub(rest, share)
                ctx.comm.send_one(dst, [share])
        ctx.comm.stats.record(ctx.comm.op, 0, 1)
        return rest
    (share,) = ctx.comm.recv_one(owner)
    ctx.comm.stats.record(ctx.comm.op, 0, 1)
    return be.asarray(share)


def _op_load_share(ctx, paths, index):
    """This party's share number ``index`` from its own file ``paths[rank]`` (save_shares)."""
    with np.load(paths[ctx.rank], allow_pickle=False) as saved:
        return ctx.be.asarray(saved[f"arr_{index}"])


def _op_sum(ctx, x, axis):
    return ctx.be.sum(x, axis=axis)


def _op_reshape(ctx, x, shape):
    return x.reshape(shape)


def _op_transpose(ctx, x, axes):
    return x.transpose(axes)


def _op_getitem(ctx, x, index):
    return x[index]


def _op_add_noise(ctx, x, scale):
    """Each party adds its own discrete Gaussian noise (OpenDP; standard deviation ``scale`` in
    ring units) to its share: the sum carries all parties' noise and no party knows more than
    its own part (record-level DP inside SMPC training)."""
    import opendp.prelude as dp

    dp.enable_features("contrib")
    n = int(np.prod(x.shape)) if x.shape else 1
    sampler = dp.m.make_gaussian(dp.vector_domain(dp.atom_domain(T=dp.i64), size=n), dp.l2_distance(T=dp.i64),
                                 scale=float(scale))
    noise = np.asarray(sampler([0] * n), dtype=np.int64).reshape(x.shape).astype(np.uint64)
    return ctx.be.add(x, ctx.be.asarray(noise))


OPS: dict[str, Callable[..., Any]] = {
    "add_noise": _op_add_noise,
    "add": _op_add, "sub": _op_sub, "neg": _op_neg,
    "add_public": _op_add_public, "rsub_public": _op_rsub_public,
    "mul_public_int": _op_mul_public_int, "mul_public": _op_mul_public,
    "matmul_public": _op_matmul_public,
    "mul": _op_mul, "matmul": _op_matmul, "square": _op_square,
    "ltz": _op_ltz, "relu": _op_relu, "eq": _op_eq,
    "conv2d": _op_conv2d, "conv2d_public": _op_conv2d_public,
    "max": _op_max, "argmax": _op_argmax, "div": _op_div,
    "exp": N.exp, "log": N.log, "reciprocal": N.reciprocal, "sqrt": N.sqrt, "rsqrt": N.rsqrt,
    "sigmoid": _spline_op("sigmoid", N.sigmoid), "tanh": _spline_op("tanh", N.tanh),
    "reciprocal_table": _spline_op("reciprocal", None), "rsqrt_table": _spline_op("rsqrt", None),
    "softmax": N.softmax, "ge0": _op_ge0,
    "im2col": _op_im2col, "col2im": _op_col2im, "windows": _op_windows, "concat": _op_concat,
    "input_from": _op_input_from, "load_share": _op_load_share,
    "sum": _op_sum, "reshape": _op_reshape, "transpose": _op_transpose, "getitem": _op_getitem,
}


def load_array(path: str | Path) -> np.ndarray:
    """A party's private data file as a float array: .npy, .csv (header row), .parquet."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".npy", ".csv", ".parquet"):
        raise BadInputError(f"Unsupported data file type {suffix or '(none)'!r}; use .npy, .csv or .parquet.")
    if not path.is_file():
        raise BadInputError(f"No data file at {path} on this party's machine.")
    try:
        if suffix == ".npy":
            return np.asarray(np.load(path, allow_pickle=False), dtype=np.float64)
        if suffix == ".csv":
            return np.loadtxt(path, delimiter=",", skiprows=1, ndmin=2, dtype=np.float64)
        import pyarrow.parquet as pq

        return pq.read_table(path).to_pandas().to_numpy(dtype=np.float64)
    except (ValueError, TypeError, OSError, UnicodeDecodeError):
        raise BadInputError(f"The data file {path.name} is not a table of numbers (non-numeric or missing cells, "
                            "or not a valid file); encode categories as numbers first.") from None


#: Ops on a party's own plaintext table; they return metadata, never shares.
TABLE_OPS: dict[str, Callable[..., Any]] = {
    "load_table": T.op_load_table, "align": T.op_align, "columns": T.op_columns,
}


def _cmd_input(party: "Party", value: Any) -> Any:
    return party.ctx.be.asarray(value)


def _cmd_load(party: "Party", name: str, source: Any) -> tuple[int, ...] | None:
    """Load private data ``name`` (a file on this party's machine or a callable run here)."""
    if source is None:  # another party's data: nothing to do here
        return None
    data = np.asarray(source() if callable(source) else load_array(source), dtype=np.float64)
    party.ctx.private[name] = data
    return tuple(data.shape)


def _cmd_check_bound(party: "Party", name: str | None, bound: float | None) -> None:
    """The owner vouches for a bound declared on its data (``Session.input_from(bound=)``)."""
    if name is None:
        return None
    data = party.ctx.private[name]
    if np.size(data) and not float(np.abs(data).max()) <= bound:
        raise BadInputError(f"party {party.rank}: the data exceeds the declared bound; declare a larger one.")
    return None


def _cmd_save_shares(party: "Party", path: str, ids: list[int]) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, *[party.ctx.be.to_numpy(party.store[i]) for i in ids])
    return None


def _cmd_reveal(party: "Party", value: Any) -> np.ndarray:
    return party.ctx.be.to_numpy(value)


def _cmd_rounds(party: "Party", count: int) -> float:
    """``count`` rounds of one 8-byte message each way (a benchmark of the transport); the
    seconds they took at this party."""
    import time

    if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= 100_000:
        raise BadInputError("rounds takes a count from 1 to 100000.")
    token = np.zeros(1, dtype=np.uint64)
    start = time.perf_counter()
    for _ in range(count):
        party.ctx.comm.exchange([token])
    return time.perf_counter() - start


# -- secure aggregation across clusters (secured.mpc.secagg, 64-bit ring) ------------------------------
# A party takes part in a federation's secure sum with its own shares: it masks them with pair
# masks shared with every other party of every cluster, so the aggregator only ever learns the
# sum over all clusters, never one cluster's model (its parties' shares summed).
def _cmd_secagg_advertise(party: "Party", index: int, size: int, threshold: int) -> bytes:
    from .secagg import SecAggClient

    party.secagg = SecAggClient(index, size, threshold, ring_bits=64)
    return party.secagg.advertise()


def _secagg(party: "Party"):
    client = getattr(party, "secagg", None)
    if client is None:
        raise PartyRefused(f"party {party.rank} has no secure-aggregation round open; advertise first.")
    return client


def _cmd_secagg_share_keys(party: "Party", roster: dict) -> dict:
    if len(roster) <= party.ctx.n_parties:   # the sum must reach beyond this cluster, or it opens its model
        raise PartyRefused(f"party {party.rank} takes part in a secure sum only with parties of other clusters.")
    return _secagg(party).share_keys(roster)


def _cmd_secagg_receive(party: "Party", inbox: dict) -> None:
    _secagg(party).receive_shares(inbox)
    return None


def _cmd_secagg_masked(party: "Party", weight: int, shared: list, *shares: Any) -> np.ndarray:
    """This party's shares of the parameters, times the public integer ``weight`` (its
    cluster's examples), masked: y = weight * share + masks in Z_2^64."""
    if isinstance(weight, bool) or not isinstance(weight, int) or weight < 1:
        raise PartyRefused(f"party {party.rank}: the weight of a secure sum is a positive int.")
    be = party.ctx.be
    flat = np.concatenate([np.asarray(be.to_numpy(v), dtype=np.uint64).reshape(-1) for v in shares])
    with np.errstate(over="ignore"):
        scaled = flat * np.uint64(weight)
    return _secagg(party).masked_ring(scaled, shared)


def _cmd_secagg_unmask(party: "Party", survivors: list, dropped: list) -> dict:
    if len(survivors) <= party.ctx.n_parties:
        raise PartyRefused(f"party {party.rank}: only its own cluster survived; unmasking would open its model.")
    out = _secagg(party).unmask(survivors, dropped)
    party.secagg = None       # one round per key set: a second request finds nothing to reveal
    return out


def _share_op(fn: Callable[..., Any]) -> Callable[..., Any]:
    return lambda party, *args: fn(party.ctx, *args)


#: Every command a driver can send, in one table: op name -> (handler, whether the result is
#: a new share kept under the command's output id). ``x @ w`` on a SharedTensor sends "matmul",
#: whose handler is ``_op_matmul`` -> ``_protocols.beaver(ctx, x, y, "matmul")``; bounds: ``_bounds.RULES``.
COMMANDS: dict[str, tuple[Callable[..., Any], bool]] = {
    **{name: (_share_op(fn), True) for name, fn in OPS.items()},
    "input": (_cmd_input, True), "relu_mask": (_op_relu_mask, True),
    "load": (_cmd_load, False), "check_bound": (_cmd_check_bound, False),
    "save_shares": (_cmd_save_shares, False), "reveal": (_cmd_reveal, False), "rounds": (_cmd_rounds, False),
    "sync": (lambda party: None, False),
    "secagg_advertise": (_cmd_secagg_advertise, False), "secagg_share_keys": (_cmd_secagg_share_keys, False),
    "secagg_receive": (_cmd_secagg_receive, False), "secagg_masked": (_cmd_secagg_masked, False),
    "secagg_unmask": (_cmd_secagg_unmask, False),
    **{name: (_share_op(fn), False) for name, fn in TABLE_OPS.items()},
}


#: Commands whose results are plain values (a share's shape, a revealed array, a number, None):
#: transports may carry them in their own frames (the Ray layer's links); others go by Ray.
PLAIN_RESULT_OPS = frozenset({*OPS, "input", "relu_mask", "reveal", "rounds", "check_bound", "save_shares", "sync"})


class Party:
    """A party's state. ``run`` executes one op; operands named by id are local shares."""

    def __init__(self, rank: int, n_parties: int, comm, key: bytes, dealer_correction,
                 backend: str | None, fractional_bits: int, *, dealer_fss=None, protocol: str = "auto",
                 costs: Any = None) -> None:
        self.rank = rank
        self.store: dict[int, Any] = {}
        self.private_inputs: set[int] = set()   # ids of shares of a party's own private data
        self.secagg = None                       # an open secure-aggregation round (secured.mpc.secagg)
        self.ctx = P.PartyContext(rank, n_parties, get_backend(name=backend), comm, key,
                                  dealer_correction, fractional_bits, dealer_fss=dealer_fss, protocol=protocol,
                                  costs=costs)

    def run(self, op: str, out: int | None, args: tuple, frees: tuple = ()) -> Any:
        try:
            return self._run(op, out, args, frees)
        except SecuredError:
            raise
        except Exception as exc:  # a library's message may quote this party's data: withhold it
            raise PartyError(f"party {self.rank}: {op!r} failed ({type(exc).__name__}); the message is withheld "
                             "because it may quote the party's data. The party operator sees it by running the "
                             "party's step locally.") from None

    def _run(self, op: str, out: int | None, args: tuple, frees: tuple = ()) -> Any:
        for tensor_id in frees:  # tensors the driver no longer references
            self.store.pop(tensor_id, None)
            self.private_inputs.discard(tensor_id)
        if op not in COMMANDS:
            raise PartyRefused(f"party {self.rank} has no op {op!r}")
        self.ctx.comm.op = op
        if op == "secagg_masked" and any(isinstance(a, tuple) and a and a[0] == "#id" and a[1] in self.private_inputs
                                         for a in args):
            raise PartyRefused(f"party {self.rank} refuses to put a party's private input into a secure sum")
        if op == "reveal" and args and isinstance(args[0], tuple) and args[0][1] in self.private_inputs:
            raise PartyRefused(f"party {self.rank} refuses to open a party's private input as it is; only "
                               "results computed from it are opened")
        resolved = [self.store[a[1]] if isinstance(a, tuple) and a and a[0] == "#id" else a for a in args]
        handler, makes_share = COMMANDS[op]
        result = handler(self, *resolved)
        if not makes_share:
            return result          # metadata (shapes, counts) or a revealed share
        self.store[out] = result
        if op == "input_from":
            self.private_inputs.add(out)
        return tuple(result.shape)

    def stats(self) -> dict[str, Any]:
        """Bytes and rounds (per op), and which protocol each FSS-capable op ran with."""
        return {**self.ctx.comm.stats.snapshot(), "protocols": {k: dict(v) for k, v in self.ctx.choices.items()}}
