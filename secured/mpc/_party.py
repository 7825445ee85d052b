"""One party's runtime: its local shares, its context, and the ops the driver can ask for.

The driver (``Session``) never holds a share of a secret value except when it is the output
receiver of ``reveal``. It sends each party the same command — an op name, the ids of the
shared operands, public values — and every party runs the same protocol code on its own share.
"""

from __future__ import annotations

from typing import Any, Callable

from ..backend import get_backend
from . import _nonlinear as N
from . import _protocols as P

__all__ = ["Party", "OPS"]


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


def _op_mul_public(ctx, x, c):
    return P.truncate(ctx, ctx.be.mul(x, c), ctx.fractional_bits)


def _op_matmul_public(ctx, x, w, left):
    product = ctx.be.matmul(w, x) if left else ctx.be.matmul(x, w)
    return P.truncate(ctx, product, ctx.fractional_bits)


def _op_mul(ctx, x, y):
    return P.truncate(ctx, P.beaver(ctx, x, y, "mul"), ctx.fractional_bits)


def _op_matmul(ctx, x, y):
    return P.truncate(ctx, P.beaver(ctx, x, y, "matmul"), ctx.fractional_bits)


def _op_square(ctx, x):
    return P.truncate(ctx, P.square(ctx, x), ctx.fractional_bits)


def _op_ltz(ctx, x):
    """[x < 0] as fixed point 0.0 / 1.0."""
    return ctx.be.lshift(P.ltz(ctx, x), ctx.fractional_bits)


def _op_relu(ctx, x):
    """max(x, 0) = x * (1 - [x < 0]), the sign bit injected straight from its XOR shares."""
    return P.mul_bit(ctx, x, P.msb_bits(ctx, x), complement=True)


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


def _op_sum(ctx, x, axis):
    return ctx.be.sum(x, axis=axis)


def _op_reshape(ctx, x, shape):
    return x.reshape(shape)


def _op_transpose(ctx, x, axes):
    return x.transpose(axes)


def _op_getitem(ctx, x, index):
    return x[index]


OPS: dict[str, Callable[..., Any]] = {
    "add": _op_add, "sub": _op_sub, "neg": _op_neg,
    "add_public": _op_add_public, "rsub_public": _op_rsub_public,
    "mul_public_int": _op_mul_public_int, "mul_public": _op_mul_public,
    "matmul_public": _op_matmul_public,
    "mul": _op_mul, "matmul": _op_matmul, "square": _op_square,
    "ltz": _op_ltz, "relu": _op_relu, "eq": _op_eq,
    "conv2d": _op_conv2d, "conv2d_public": _op_conv2d_public,
    "max": _op_max, "argmax": _op_argmax, "div": _op_div,
    "exp": N.exp, "log": N.log, "reciprocal": N.reciprocal, "sqrt": N.sqrt, "rsqrt": N.rsqrt,
    "sigmoid": N.sigmoid, "tanh": N.tanh, "softmax": N.softmax,
    "sum": _op_sum, "reshape": _op_reshape, "transpose": _op_transpose, "getitem": _op_getitem,
}


class Party:
    """A party's state. ``run`` executes one op; operands named by id are local shares."""

    def __init__(self, rank: int, n_parties: int, comm, key: bytes, dealer_correction,
                 backend: str | None, fractional_bits: int) -> None:
        self.rank = rank
        self.store: dict[int, Any] = {}
        self.ctx = P.PartyContext(rank, n_parties, get_backend(name=backend), comm, key,
                                  dealer_correction, fractional_bits)

    def run(self, op: str, out: int | None, args: tuple) -> Any:
        self.ctx.comm.op = op
        resolved = [self.store[a[1]] if isinstance(a, tuple) and a and a[0] == "#id" else a
                    for a in args]
        if op == "input":
            value = self.ctx.be.asarray(resolved[0])
        elif op == "reveal":
            return self.ctx.be.to_numpy(resolved[0])
        elif op == "free":
            self.store.pop(args[0], None)
            return None
        else:
            value = OPS[op](self.ctx, *resolved)
        self.store[out] = value
        return tuple(value.shape)

    def stats(self) -> dict[str, Any]:
        return self.ctx.comm.stats.snapshot()
