"""Protocols, written once for every party (SPMD): each function runs on one party with its
local share and a PartyContext, and talks to the other parties only through the communicator.

Rounds and bytes per party (n parties, |x| elements of 8 bytes) are recorded by the
communicator; the table in the README lists them per op.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from ..backend import RingBackend
from ._comm import Communicator
from ._dealer import expand_parts

__all__ = ["PartyContext", "open_values", "beaver", "square", "truncate", "matmul_shape",
           "derivations"]


@dataclass
class PartyContext:
    rank: int
    n_parties: int
    be: RingBackend
    comm: Communicator
    key: bytes  # shared with the dealer only
    dealer_correction: Callable[..., Any] | None  # party 0 only
    fractional_bits: int
    counter: int = 0

    def randomness(self, kind: str, shapes: tuple[tuple[int, ...], ...],
                   derived_shape: tuple[int, ...], params: Any = None) -> list[Any]:
        """This party's parts of the next correlation of ``kind`` (seed-compressed)."""
        self.counter += 1
        parts = expand_parts(self.be, self.key, self.counter, shapes + (derived_shape,))
        if self.rank == 0:
            parts[-1] = self.be.asarray(
                self.dealer_correction(self.counter, kind, shapes, derived_shape, params))
        return parts


def matmul_shape(xs: tuple[int, ...], ys: tuple[int, ...]) -> tuple[int, ...]:
    xs2 = (1, *xs) if len(xs) == 1 else tuple(xs)
    ys2 = (*ys, 1) if len(ys) == 1 else tuple(ys)
    out = (*np.broadcast_shapes(xs2[:-2], ys2[:-2]), xs2[-2], ys2[-1])
    if len(xs) == 1:
        out = out[:-2] + out[-1:]
    if len(ys) == 1:
        out = out[:-1]
    return out


def _ring_ops(be: RingBackend) -> dict[str, Callable[[Any, Any], Any]]:
    return {"mul": be.mul, "matmul": be.matmul}


def derivations(be: RingBackend) -> dict[str, Callable[..., Any]]:
    """How the dealer turns summed random parts into the correlated value."""
    return {
        "mul": lambda a, b, params=None: be.mul(a, b),
        "matmul": lambda a, b, params=None: be.matmul(a, b),
        "square": lambda a, params=None: be.mul(a, a),
        "trunc": lambda r, params: be.arshift(r, params),
        "and": lambda a, b, params=None: be.and_(a, b),
    }


def open_values(ctx: PartyContext, shares: list[Any]) -> list[Any]:
    """Reveal these shared values to every party: one round, |values| * 8 * (n-1) bytes sent."""
    gathered = ctx.comm.exchange(shares)
    totals = []
    for j in range(len(shares)):
        acc = gathered[0][j]
        for i in range(1, ctx.n_parties):
            acc = ctx.be.add(acc, gathered[i][j])
        totals.append(acc)
    return totals


def beaver(ctx: PartyContext, x: Any, y: Any, kind: str) -> Any:
    """[x * y] or [x @ y] with a dealer triple: one round opening x - a and y - b together."""
    be = ctx.be
    op = _ring_ops(be)[kind]
    if kind == "mul":
        out_shape = tuple(np.broadcast_shapes(x.shape, y.shape))
    else:
        out_shape = matmul_shape(tuple(x.shape), tuple(y.shape))
    a, b, c = ctx.randomness(kind, (tuple(x.shape), tuple(y.shape)), out_shape)
    eps, delta = open_values(ctx, [be.sub(x, a), be.sub(y, b)])
    z = be.add(c, be.add(op(eps, b), op(a, delta)))
    if ctx.rank == 0:
        z = be.add(z, op(eps, delta))
    return z


def square(ctx: PartyContext, x: Any) -> Any:
    """[x * x] with a dealer square pair (a, a^2): one round opening only x - a."""
    be = ctx.be
    a, c = ctx.randomness("square", (tuple(x.shape),), tuple(x.shape))
    (eps,) = open_values(ctx, [be.sub(x, a)])
    z = be.add(c, be.mul(be.lshift(eps, 1), a))
    if ctx.rank == 0:
        z = be.add(z, be.mul(eps, eps))
    return z


def truncate(ctx: PartyContext, x: Any, f: int) -> Any:
    """[x / 2^f] after a fixed-point product, probabilistically.

    Two parties: local (party 0 shifts its share, party 1 negates, shifts, negates), no
    communication. More parties: a dealer pair (r, r >> f); c = x - r is opened (uniform, so it
    hides x) and [x >> f] = (c >> f) + [r >> f]. Either way the result is within 2 units in the
    last place of x / 2^f (the floor, plus the carry between the shifted shares; 1 unit with 2
    parties), except with probability about |x| / 2^63 (x as the 2f-bit product), when the
    share sum wraps and the result is off by about 2^(64-f): for |x * y| < 2^10 with f = 16
    that is below 2^-21 per element.
    """
    be = ctx.be
    if f == 0:
        return x
    if ctx.n_parties == 2:
        if ctx.rank == 0:
            return be.arshift(x, f)
        return be.neg(be.arshift(be.neg(x), f))
    r, rt = ctx.randomness("trunc", (tuple(x.shape),), tuple(x.shape), params=f)
    (c,) = open_values(ctx, [be.sub(x, r)])
    return be.add(rt, be.arshift(c, f)) if ctx.rank == 0 else rt


