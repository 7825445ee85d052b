"""Fixed-point and nonlinear functions on secret shares, for every party (SPMD).

Everything here is built from the protocols in ``_protocols``: Beaver products, truncation,
comparisons (A2B) and bit conversions (B2A). Values are fixed point with f fractional bits.
Input ranges and the errors measured against float64 (f = 16) are in the README's table and
checked by ``tests/mpc/test_nonlinear.py``.

Techniques:
- exp: clamp below at -32 (e^-32 is below the fixed-point resolution), then
  exp(x) = P5(x / 16)^16 with P5 the degree-5 Taylor polynomial, evaluated at 2f bits and
  truncated once (sigmoid's e^-|x|, clamped at -16: P5(x / 8)^8).
- reciprocal, inverse square root, square root, log: normalise x = m * 2^e with one-hot
  leading-bit detection on the bit planes of x (A2B, a prefix OR, B2A), so that m lies in
  [1, 2) (or [1, 4) for square roots) and the power of two is a public-weighted sum of the
  one-hot bits; then Newton iterations (reciprocal, inverse square root) or a least-squares
  polynomial (log) on the small interval. Supported range: 2^-f <= x < 2^f.
- sigmoid: numer / d with d = 1 + exp(-|x|) in (1, 2] (|x| clamped at 16; Newton from a
  minimax linear start) and numer = 1 or exp(-|x|) by the sign, the last Newton step fused
  with the numerator; tanh(x) = 2 sigmoid(2x) - 1.
- max / argmax: a tree of pairwise comparisons over adjacent elements (first index wins
  ties); softmax: exp(x - max) / sum.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from . import _protocols as P

__all__ = [
    "mul", "mul_int", "mul_public", "add_public", "exp", "reciprocal", "rsqrt", "sqrt", "log",
    "sigmoid", "tanh", "softmax", "max_argmax", "ltz_many", "clamp_below", "spline",
]

EXP_CLAMP = -32.0


# ---------------------------------------------------------------------- fixed-point helpers
def _enc(ctx: P.PartyContext, value: Any, bits: int | None = None) -> Any:
    return ctx.be.encode(np.asarray(value, dtype=np.float64), ctx.fractional_bits if bits is None else bits)


def add_public(ctx: P.PartyContext, x: Any, c: Any) -> Any:
    return ctx.be.add(x, _enc(ctx, c)) if ctx.rank == 0 else x


def mul_public(ctx: P.PartyContext, x: Any, c: Any) -> Any:
    return P.truncate(ctx, ctx.be.mul(x, _enc(ctx, c)), ctx.fractional_bits)


def mul(ctx: P.PartyContext, x: Any, y: Any) -> Any:
    return P.truncate(ctx, P.beaver(ctx, x, y, "mul"), ctx.fractional_bits)


def mul_int(ctx: P.PartyContext, x: Any, k: Any) -> Any:
    """x times a secret integer (e.g. a 0/1 bit): exact, no truncation."""
    return P.beaver(ctx, x, k, "mul")


def _one_minus_int(ctx: P.PartyContext, k: Any) -> Any:
    out = ctx.be.neg(k)
    return ctx.be.add(out, 1) if ctx.rank == 0 else out


def _int_to_fixed(ctx: P.PartyContext, k: Any) -> Any:
    return ctx.be.lshift(k, ctx.fractional_bits)


def ltz_many(ctx: P.PartyContext, xs: list[Any]) -> list[Any]:
    """[x < 0] as integer 0/1 shares for several arrays in one batched comparison."""
    flat = ctx.be.xp.concatenate([x.reshape(-1) for x in xs])
    bits = P.ltz(ctx, flat)
    out, pos = [], 0
    for x in xs:
        out.append(bits[pos:pos + x.size].reshape(x.shape))
        pos += x.size
    return out


def clamp_below(ctx: P.PartyContext, x: Any, low: float) -> Any:
    """max(x, low) = low + relu(x - low)."""
    shifted = add_public(ctx, x, -low)
    (below,) = ltz_many(ctx, [shifted])
    return add_public(ctx, mul_int(ctx, shifted, _one_minus_int(ctx, below)), low)


def _polynomial(ctx: P.PartyContext, t: Any, coeffs: list[float]) -> Any:
    """sum_k c_k t^k: powers by repeated squaring levels (log depth), the public
    coefficients applied at 2f bits and truncated once."""
    be, f = ctx.be, ctx.fractional_bits
    degree = len(coeffs) - 1
    powers = {1: t}
    while max(powers) < degree:
        top = max(powers)
        need = [k for k in range(top + 1, min(2 * top, degree) + 1)]
        lefts = be.xp.stack([powers[top] for _ in need])
        rights = be.xp.stack([powers[k - top] for k in need])
        products = mul(ctx, lefts, rights)
        for i, k in enumerate(need):
            powers[k] = products[i]
    acc = be.zeros(t.shape)
    for k in range(1, degree + 1):
        acc = be.add(acc, be.mul(powers[k], _enc(ctx, coeffs[k])))
    acc = P.truncate(ctx, acc, f)
    return add_public(ctx, acc, coeffs[0])


# ---------------------------------------------------------------------- exp
_EXP_TAYLOR = [1.0 / math.factorial(k) for k in range(6)]


def exp(ctx: P.PartyContext, x: Any) -> Any:
    return _exp_clamped(ctx, clamp_below(ctx, x, EXP_CLAMP))


def _exp_clamped(ctx: P.PartyContext, x: Any, halvings: int = 4) -> Any:
    """exp(x) = P5(x / 2^k)^(2^k) (k = ``halvings``) for x already clamped below (``exp``
    clamps at -32, with k = 4; sigmoid at -16 and takes k = 3: one squaring less)."""
    y = _polynomial(ctx, P.truncate(ctx, x, halvings), _EXP_TAYLOR)
    for _ in range(halvings):
        y = P.truncate(ctx, P.square(ctx, y), ctx.fractional_bits)
    return y


# ---------------------------------------------------------------------- normalisation
def _leading_one(ctx: P.PartyContext, x: Any) -> Any:
    """Integer 0/1 shares h (64, N): h[i] = 1 where bit i is the leading one of x > 0."""
    be = ctx.be
    planes, n = P.bit_planes(ctx, x)
    o = planes
    d = 1
    while d < 64:  # suffix OR: o[i] = OR of bits i..63
        hi, lo = o[d:], o[:-d]
        both = P.and_bits(ctx, lo, hi)
        o = be.xp.concatenate([be.xor(be.xor(lo, hi), both), o[-d:]])
        d *= 2
    lead = be.xor(o, be.xp.concatenate([o[1:], be.xp.zeros_like(o[:1])]))
    return P.b2a_bits(ctx, lead, n)


def _weighted(ctx: P.PartyContext, h: Any, weights: np.ndarray, shape: tuple[int, ...]) -> Any:
    """sum_i h[i] * enc(weights[i]): local, exact up to the encoding of the weights."""
    be = ctx.be
    w = _enc(ctx, weights).reshape(-1, 1)
    return be.sum(be.mul(h, w), axis=0).reshape(shape)


def _normalise(ctx: P.PartyContext, x: Any, even: bool) -> tuple[Any, Any, Any]:
    """(m, h, e) with x = m * 2^e: m in [1, 2) (or [1, 4) when ``even``), h the one-hot
    leading-bit shares and e = i - f (made even when ``even``) per leading bit i."""
    f = ctx.fractional_bits
    h = _leading_one(ctx, x)
    e = np.arange(64) - f
    if even:
        e = e - (e % 2)
    # Beyond 2^f the scale 2^-e underflows the fixed point: documented range.
    scale = np.where(np.abs(e) <= f, 2.0 ** -e.astype(np.float64), 0.0)
    m = mul(ctx, x, _weighted(ctx, h, scale, x.shape))
    return m, h, e


def _newton_reciprocal_unit(ctx: P.PartyContext, m: Any, iterations: int = 3) -> Any:
    """1/m for m in [1, 2]: minimax linear start (error <= 1/17), quadratic convergence."""
    y = add_public(ctx, mul_public(ctx, m, -8.0 / 17.0), 24.0 / 17.0)
    for _ in range(iterations):
        e = add_public(ctx, ctx.be.neg(mul(ctx, m, y)), 2.0)  # 2 - m y
        y = mul(ctx, y, e)
    return y


def reciprocal(ctx: P.PartyContext, x: Any) -> Any:
    """1/x for 2^-f <= |x| < 2^f (either sign)."""
    (neg,) = ltz_many(ctx, [x])
    sign = _sign_int(ctx, neg)
    m, h, e = _normalise(ctx, mul_int(ctx, x, sign), even=False)
    scale = np.where(np.abs(e) <= ctx.fractional_bits, 2.0 ** -e.astype(np.float64), 0.0)
    out = mul(ctx, _newton_reciprocal_unit(ctx, m), _weighted(ctx, h, scale, x.shape))
    return mul_int(ctx, out, sign)


def _sign_int(ctx: P.PartyContext, neg: Any) -> Any:
    """1 - 2 neg as a ring integer (+1 or -1)."""
    out = ctx.be.neg(ctx.be.lshift(neg, 1))
    return ctx.be.add(out, 1) if ctx.rank == 0 else out


def _rsqrt_unit(ctx: P.PartyContext, m: Any, iterations: int = 4) -> Any:
    """1/sqrt(m) for m in [1, 4): linear start through the end points, Newton steps."""
    y = add_public(ctx, mul_public(ctx, m, -1.0 / 6.0), 7.0 / 6.0)
    for _ in range(iterations):
        t = mul(ctx, m, P.truncate(ctx, P.square(ctx, y), ctx.fractional_bits))
        y = mul(ctx, y, mul_public(ctx, add_public(ctx, ctx.be.neg(t), 3.0), 0.5))
    return y


def _half_power_scale(ctx: P.PartyContext, h: Any, e: np.ndarray, sign: float, shape) -> Any:
    """sum_i h[i] 2^(sign * e_i / 2) for even e_i (exact powers of two)."""
    scale = np.where(np.abs(e) <= ctx.fractional_bits, 2.0 ** (sign * e.astype(np.float64) / 2), 0.0)
    return _weighted(ctx, h, scale, shape)


def rsqrt(ctx: P.PartyContext, x: Any) -> Any:
    """1/sqrt(x) for 2^-f <= x < 2^f."""
    m, h, e = _normalise(ctx, x, even=True)  # m in [1, 4)
    return mul(ctx, _rsqrt_unit(ctx, m), _half_power_scale(ctx, h, e, -1.0, x.shape))


def sqrt(ctx: P.PartyContext, x: Any) -> Any:
    """sqrt(x) for 2^-f <= x < 2^f: sqrt(m) = m / sqrt(m) on [1, 4), times 2^(e/2)."""
    m, h, e = _normalise(ctx, x, even=True)
    root_m = mul(ctx, m, _rsqrt_unit(ctx, m))
    return mul(ctx, root_m, _half_power_scale(ctx, h, e, 1.0, x.shape))


def _log_coefficients(degree: int = 8) -> list[float]:
    t = (1 - np.cos(np.linspace(0, np.pi, 400))) / 2  # Chebyshev-like nodes on [0, 1]
    return [float(c) for c in np.polynomial.polynomial.polyfit(t, np.log1p(t), degree)]


_LOG_COEFFS = _log_coefficients()


def log(ctx: P.PartyContext, x: Any) -> Any:
    """ln x for 2^-f <= x < 2^f: e ln 2 + ln(m), ln(m) by a degree-8 fit on [1, 2)."""
    m, h, e = _normalise(ctx, x, even=False)
    tail = _polynomial(ctx, add_public(ctx, m, -1.0), _LOG_COEFFS)
    return ctx.be.add(tail, _weighted(ctx, h, e * math.log(2.0), x.shape))


# ---------------------------------------------------------------------- sigmoid, tanh
#: e^-16 = 1.1e-7 is below the resolution of 2^-16: sigmoid(|x| >= 16) rounds to 1 (or 0) as
#: it would at 32, and exp's argument then stays in [-16, 0], where P5(t / 8)^8 is as good as
#: P5(t / 16)^16 (the Taylor error grows, the rounding amplified by the squarings halves).
SIGMOID_CLAMP = 16.0


def sigmoid(ctx: P.PartyContext, x: Any) -> Any:
    """1 / (1 + e^-x) = numer / d with d = 1 + e^-|x| in (1, 2] and numer = 1 (x >= 0) or
    e^-|x| (x < 0); 1 / d by Newton steps from a minimax linear start, the last step fused
    with the numerator: numer y (2 - d y) takes one round for [d y, numer y] and one for the
    product (19 rounds at 2 parties, the comparisons' 6 included)."""
    be = ctx.be
    neg, high, low = ltz_many(ctx, [x, add_public(ctx, x, -SIGMOID_CLAMP), add_public(ctx, x, SIGMOID_CLAMP)])
    inside = be.sub(high, low)  # 1 where -16 <= x < 16
    # |x| clamped to 16: x * inside * (1 - 2 neg), plus 16 outside. inside * (1 - 2 neg) is
    # linear in the three bits (low = 1 only where neg = 1, high = 0 only where neg = 0):
    # high + low - 2 neg, so one product instead of two.
    ax = mul_int(ctx, x, be.sub(be.add(high, low), be.lshift(neg, 1)))
    ax = be.add(ax, be.mul(_enc(ctx, SIGMOID_CLAMP), _one_minus_int(ctx, inside)))
    e = _exp_clamped(ctx, be.neg(ax), halvings=3)            # e^-|x|; -ax >= -16 already
    d = add_public(ctx, e, 1.0)                              # in (1, 2]
    y = add_public(ctx, mul_public(ctx, d, -8.0 / 17.0), 24.0 / 17.0)
    # the first Newton product and numer - 1 = neg (e - 1) (exact: neg is 0/1) in one round
    xp = be.xp
    first = P.beaver(ctx, xp.stack([d, add_public(ctx, e, -1.0)]), xp.stack([y, neg]), "mul")
    numer = add_public(ctx, first[1], 1.0)
    y = mul(ctx, y, add_public(ctx, be.neg(P.truncate(ctx, first[0], ctx.fractional_bits)), 2.0))
    y = mul(ctx, y, add_public(ctx, be.neg(mul(ctx, d, y)), 2.0))
    both = mul(ctx, xp.stack([d, numer]), xp.stack([y, y]))  # [d y, numer y]
    return mul(ctx, both[1], add_public(ctx, be.neg(both[0]), 2.0))


def spline(ctx: P.PartyContext, x: Any, table: Any) -> Any:
    """A piecewise-linear function (``secured.mpc.fss.RingSpline``) for any x and any number of
    parties, in 5 rounds: the masked spline.

    The dealer masks x with r. Round 1 opens x^ = xu + r (xu = x + 2^63, offset binary); then
    with w = [x^ < r] (x^ wrapped) and s_k = x^ - p_k, every breakpoint's [xu >= p_k] is
    w ^ [r <= s_k] ^ [x^ < p_k] (the cases where w and [r <= s_k] could both hold cannot
    happen), so all m + 1 comparisons are of public words with the same r: the bytes compare
    locally against r's bytes' thermometer codes from the dealer, and a 3-level tree of ANDs merges
    them (rounds 2-4, ``_protocols.less_than_mask``). The bits XOR, locally, into shares of the
    index of x's piece and of w, which round 5 opens masked by the dealer (one byte). The value
    is then local: the public piece values at x^ picked by the dealer's shared unit vector, less
    its shared table of floor(slope r / 2^20); within 1.5 units in the last place of the table."""
    from .fss import _flips, _index_bits, mul_floor

    be, xp = ctx.be, ctx.be.xp
    m = len(table.points)
    jb = _index_bits(m)
    size = 1 << (jb + 1)
    shape = tuple(x.shape)
    flat = xp.ascontiguousarray(x.reshape(-1))
    e = int(flat.shape[0])
    r, rho, therm, onehot, dtab = ctx.randomness(
        "ring_spline", ((e,), (e,)), (e, P.THERMOMETER_WORDS), params=(table.name, table.frac),
        more_derived=((e, size), (e, size)))
    masked = be.add(flat, r)
    if ctx.rank == 0:
        masked = be.add(masked, xp.full(e, 1 << 63, dtype=xp.uint64))
    (xh,) = P.open_values(ctx, [masked])                                   # round 1: x^
    therm, onehot, dtab = ctx.ready(therm, onehot, dtab)
    points = xp.asarray(table.points)
    with np.errstate(over="ignore"):
        public = xp.concatenate([xh[:, None] - points[None, :], xh[:, None]], axis=1)   # s_k, then x^
    less = be.unpack_bits(P.less_than_mask(ctx, public, therm), e * (m + 1))  # 2-4
    less = less.reshape(e, m + 1).astype(xp.int32)
    wrap = less[:, m]                                                      # [x^ < r]
    ge = less[:, :m] ^ wrap[:, None]                                       # [xu >= p_k] less its public part
    if ctx.rank == 0:
        ge = ge ^ 1 ^ (xh[:, None] < points[None, :]).astype(xp.int32)
    flips = xp.asarray(_flips(m))
    bits = (ge @ flips) & 1 if m else xp.zeros((e, 0), dtype=xp.int32)
    index = xp.concatenate([bits, wrap[:, None]], axis=1).astype(xp.int64) << xp.arange(jb + 1)[None, :]
    index = (index.sum(axis=1).astype(xp.uint64) ^ (rho & xp.uint64(size - 1))).astype(
        xp.uint8 if jb < 8 else xp.uint16)
    (opened,) = P._open(ctx, [index], xp.bitwise_xor)                     # round 5: the masked index (a byte)
    slopes = np.zeros(size // 2, dtype=np.int64)
    consts = np.zeros(size // 2, dtype=np.uint64)
    slopes[:m + 1], consts[:m + 1] = table.slopes, table.consts
    with np.errstate(over="ignore"):
        pieces = xp.asarray(mul_floor(slopes, be.to_numpy(xh), table.guard) + consts[None, :])
        wrap = xp.asarray(slopes.view(np.uint64) << np.uint64(64 - table.guard))
    return be.spline_pick(onehot, dtab, opened.astype(xp.int64), pieces, wrap).reshape(shape)


def tanh(ctx: P.PartyContext, x: Any) -> Any:
    s = sigmoid(ctx, ctx.be.lshift(x, 1))
    return add_public(ctx, ctx.be.lshift(s, 1), -1.0)


# ---------------------------------------------------------------------- max, argmax, softmax
def max_argmax(ctx: P.PartyContext, x: Any, axis: int) -> tuple[Any, Any]:
    """Max and argmax (as a fixed-point index) along ``axis``; ties go to the first index."""
    be, xp = ctx.be, ctx.be.xp
    x = xp.moveaxis(x, axis, -1)
    n = x.shape[-1]
    idx = be.zeros(x.shape)
    if ctx.rank == 0:
        idx = be.add(idx, _enc(ctx, np.arange(n, dtype=np.float64)))
    while x.shape[-1] > 1:
        k = x.shape[-1] // 2
        a, b = x[..., 0:2 * k:2], x[..., 1:2 * k:2]
        ia, ib = idx[..., 0:2 * k:2], idx[..., 1:2 * k:2]
        (less,) = ltz_many(ctx, [be.sub(a, b)])  # a < b: take b
        both = mul_int(ctx, xp.stack([be.sub(b, a), be.sub(ib, ia)]), xp.stack([less, less]))
        best, best_i = be.add(a, both[0]), be.add(ia, both[1])
        if x.shape[-1] % 2:
            best = xp.concatenate([best, x[..., -1:]], axis=-1)
            best_i = xp.concatenate([best_i, idx[..., -1:]], axis=-1)
        x, idx = best, best_i
    return x[..., 0], idx[..., 0]


def _exp_nonpositive(ctx: P.PartyContext, x: Any) -> Any:
    """exp(x) for x <= 0: the polynomial and squarings (``exp``), or where the cost model
    prefers it on the session's link (rounds that cost) the masked spline of exp(min(x, 0))
    (5 rounds at any number of parties, within 3e-5 of the function: ``fss.named_spline``)."""
    from .costs import CostModel
    from .fss import ring_spline

    elements = int(np.prod(x.shape))
    if (ctx.costs or CostModel()).classic_variant(elements, ctx.n_parties, op="exp") != "spline":
        return exp(ctx, x)
    entry = ctx.choices.setdefault("exp (softmax)", {"fss": 0, "classic": 0})
    entry["spline"] = entry.get("spline", 0) + 1
    return spline(ctx, x, ring_spline("exp", ctx.fractional_bits))


def softmax(ctx: P.PartyContext, x: Any, axis: int) -> Any:
    be, xp = ctx.be, ctx.be.xp
    m, _ = max_argmax(ctx, x, axis)
    shifted = be.sub(x, xp.expand_dims(m, axis))
    e = _exp_nonpositive(ctx, shifted)
    total = be.sum(e, axis=axis)  # in [1, n]
    inv = reciprocal(ctx, total)
    return mul(ctx, e, xp.expand_dims(inv, axis))
