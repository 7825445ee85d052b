"""Protocols, written once for every party (SPMD): each function runs on one party with its
local share and a PartyContext, and talks to the other parties only through the communicator.

Rounds and bytes per party (n parties, |x| elements of 8 bytes) are recorded by the
communicator; the table in the README lists them per op.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from ..backend import RingBackend
from ._comm import Communicator
from ._dealer import expand_parts, fold_shares

__all__ = ["PartyContext", "open_values", "open_bits", "beaver", "square", "truncate",
           "matmul_shape", "derivations", "and_bits", "less_than_mask", "byte_thermometers", "digit_planes",
           "msb_bits", "bit_planes", "b2a_bits",
           "ltz", "mul_bit", "ring_conv2d", "conv2d_shape"]


class _Answer:
    """A dealer answer read once, when first needed."""

    def __init__(self, wait: Callable[[], Any]) -> None:
        self._wait, self._values = wait, None

    def values(self) -> Any:
        if self._values is None:
            self._values = self._wait()
        return self._values


class _Pending:
    """Derived part ``index`` of a dealer answer that has not been read yet."""

    def __init__(self, answer: _Answer, index: int) -> None:
        self.answer, self.index = answer, index

    def get(self) -> Any:
        return self.answer.values()[self.index]


@dataclass
class PartyContext:
    """What a party's protocol code works with: its rank, backend, communicator, dealer key and
    private data."""
    rank: int
    n_parties: int
    be: RingBackend
    comm: Communicator
    key: bytes  # shared with the dealer only
    dealer_correction: Callable[..., Any] | None  # party 0 only
    fractional_bits: int
    counter: int = 0
    private: dict = field(default_factory=dict)  # this party's own plaintext data
    dealer_fss: Callable[..., Any] | None = None  # (rank, counter, kind, shape) -> this party's FSS key
    protocol: str = "auto"                         # 'auto' (cost model), 'fss' or 'classic'
    costs: Any = None                              # secured.mpc.costs.CostModel
    choices: dict = field(default_factory=dict)    # op -> {'fss': count, 'classic': count}

    def use_fss(self, op: str, elements: int) -> bool:
        """Whether this op runs as an FSS gate (two parties, the cost model's choice; on a GPU
        session the gate runs on the host)."""
        if self.dealer_fss is None or self.n_parties != 2:
            choice = "classic"
        else:
            from .costs import CostModel

            choice = (self.costs or CostModel()).choose(op, elements, self.n_parties, self.protocol)
        entry = self.choices.setdefault(op, {"fss": 0, "classic": 0})
        entry[choice] += 1
        return choice == "fss"

    def fss_key(self, kind: str, shape: tuple[int, ...], param: int = 64) -> Any:
        self.counter += 1
        return self.dealer_fss(self.rank, self.counter, kind, tuple(shape), param)

    def randomness(self, kind: str, shapes: tuple[tuple[int, ...], ...],
                   derived_shape: tuple[int, ...], params: Any = None,
                   more_derived: tuple[tuple[int, ...], ...] = ()) -> list[Any]:
        """This party's parts of the next correlation of ``kind`` (seed-compressed)."""
        self.counter += 1
        derived = (derived_shape, *more_derived)
        if self.rank != 0:
            return expand_parts(self.be, self.key, self.counter, shapes + derived)
        # Party 0's derived parts are the dealer's corrections: only the random parts (a prefix
        # of the same stream) are expanded.
        fixes = self.dealer_correction(self.counter, kind, shapes, derived, params)
        parts = expand_parts(self.be, self.key, self.counter, shapes)
        if callable(fixes):        # the dealer's answer is on its way: used after this op's opening
            answer = _Answer(fixes)
            return parts + [_Pending(answer, j) for j in range(len(derived))]
        return parts + [self.be.asarray(v) for v in fixes]

    def ready(self, *parts: Any) -> Any:
        """Derived parts as arrays: party 0's corrections may still be on their way from the
        dealer (a request over a link goes out before the op's opening and is read after it,
        so the two round trips overlap); the others' parts are arrays already."""
        out = [self.be.asarray(p.get()) if isinstance(p, _Pending) else p for p in parts]
        return out[0] if len(out) == 1 else out


def matmul_shape(xs: tuple[int, ...], ys: tuple[int, ...]) -> tuple[int, ...]:
    xs2 = (1, *xs) if len(xs) == 1 else tuple(xs)
    ys2 = (*ys, 1) if len(ys) == 1 else tuple(ys)
    out = (*np.broadcast_shapes(xs2[:-2], ys2[:-2]), xs2[-2], ys2[-1])
    if len(xs) == 1:
        out = out[:-2] + out[-1:]
    if len(ys) == 1:
        out = out[:-1]
    return out


def conv2d_shape(xs: tuple[int, ...], ws: tuple[int, ...], stride: int, padding: int) -> tuple[int, ...]:
    n, _, h, w = xs
    o, _, kh, kw = ws
    return (n, o, (h + 2 * padding - kh) // stride + 1, (w + 2 * padding - kw) // stride + 1)


def ring_conv2d(be: RingBackend, x: Any, w: Any, stride: int, padding: int) -> Any:
    """Exact 2-D convolution (cross-correlation, like torch) over Z_2^64: im2col + ring matmul.

    x: (N, C, H, W), w: (O, C, kh, kw) -> (N, O, H', W').
    """
    xp = be.xp
    n, c, _, _ = x.shape
    o, _, kh, kw = w.shape
    if padding:
        x = xp.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    _, _, oh, ow = conv2d_shape((n, c, x.shape[2] - 2 * padding, x.shape[3] - 2 * padding), w.shape, stride, padding)
    cols = xp.empty((n, oh, ow, c, kh, kw), dtype=xp.uint64)
    for i in range(kh):
        for j in range(kw):
            cols[:, :, :, :, i, j] = x[:, :, i:i + stride * oh:stride, j:j + stride * ow:stride].transpose(0, 2, 3, 1)
    out = be.matmul(cols.reshape(n, oh * ow, c * kh * kw), w.reshape(o, c * kh * kw).T)
    return xp.ascontiguousarray(out.reshape(n, oh, ow, o).transpose(0, 3, 1, 2))


def _ring_ops(be: RingBackend, params: Any = None) -> dict[str, Callable[[Any, Any], Any]]:
    ops = {"mul": be.mul, "matmul": be.matmul}
    if params is not None:
        ops["conv"] = lambda a, b: ring_conv2d(be, a, b, *params)
    return ops


def derivations(be: RingBackend) -> dict[str, tuple]:
    """How the dealer turns the random parts into correlated values:
    kind -> (parts are XOR shares, derived parts are XOR shares, function)."""

    def ring_spline(r, rho, params):
        from .fss import ring_spline_material

        onehot, dtab = ring_spline_material(be.to_numpy(r), be.to_numpy(rho), *params)
        return byte_thermometers(be.xp, r), be.asarray(onehot), be.asarray(dtab)

    def bits(r_words, params):
        # params = n: the first n bits of the XOR-shared words, as additive shares of 0/1.
        return (be.asarray(be.unpack_bits(r_words, params).astype(np.uint64)),)

    return {
        "mul": (False, (False,), lambda a, b, params=None: (be.mul(a, b),)),
        "matmul": (False, (False,), lambda a, b, params=None: (be.matmul(a, b),)),
        "conv": (False, (False,), lambda a, b, params: (ring_conv2d(be, a, b, *params),)),
        "square": (False, (False,), lambda a, params=None: (be.mul(a, a),)),
        "trunc": (False, (False,), lambda r, params: (be.arshift(r, params),)),
        "and": (True, (True,), lambda a, b, params=None: (be.and_(a, b),)),
        "bit": (True, (False,), bits),
        # random bit r (XOR shares of words, params = n) with a Beaver mask a: derived parts
        # r as additive 0/1 shares and c = a * r
        "bitmul": ((True, False), (False, False), lambda rw, a, params: (
            bits(rw, params)[0], be.mul(a, bits(rw, params)[0].reshape(a.shape)))),
        # the masked spline (``_nonlinear.spline``, params = (kind, frac)): mask r (additive) and
        # the index mask (a random word, XOR); derived: r's bytes' thermometer codes (XOR), the
        # unit vector at the index mask and the slope table (additive)
        "ring_spline": ((False, True), (True, False, False), ring_spline),
        # a random r (additive) and its 4-bit digits' thermometer codes, bit-sliced (XOR-shared):
        # the masked comparison
        "mask_digits": (False, (True,), lambda r, params=None: (digit_planes(be, r),)),
    }


def open_bits(ctx: PartyContext, shares: list[Any]) -> list[Any]:
    """Reveal XOR-shared words to every party: one round."""
    return _open(ctx, shares, ctx.be.xor)


def and_bits(ctx: PartyContext, x: Any, y: Any, triple: tuple | None = None) -> Any:
    """[x & y] on XOR shares with a dealer AND triple (``triple``: rows of one asked for
    earlier, ``_and_triples``): one round."""
    be = ctx.be
    if triple is None:
        a, b, c = ctx.randomness("and", (tuple(x.shape), tuple(y.shape)), tuple(x.shape))
        rows = None
    else:
        a, b, c, rows = triple
    e, d = open_bits(ctx, [be.xor(x, a), be.xor(y, b)])
    c = ctx.ready(c) if rows is None else ctx.ready(c)[rows]
    z = be.xor(c, be.xor(be.and_(e, b), be.and_(d, a)))
    return be.xor(z, be.and_(e, d)) if ctx.rank == 0 else z


def _carries(ctx: PartyContext, g: Any, p: Any) -> Any:
    """Kogge-Stone prefix over bit planes (64, W): after it g[i] is the carry out of bit i.

    Each of the 6 levels is one round: its G and P products go in a single AND call.
    """
    be = ctx.be
    d = 1
    while d < 64:
        last = d * 2 >= 64
        hi_p, lo_g, lo_p = p[d:], g[:-d], p[:-d]
        if last:  # the final level needs no new P
            prod = and_bits(ctx, hi_p, lo_g)
            g = be.xp.concatenate([g[:d], be.xor(g[d:], prod)])
        else:
            prod = and_bits(ctx, be.xp.concatenate([hi_p, hi_p]), be.xp.concatenate([lo_g, lo_p]))
            n = hi_p.shape[0]
            g = be.xp.concatenate([g[:d], be.xor(g[d:], prod[:n])])
            p = be.xp.concatenate([p[:d], prod[n:]])
        d *= 2
    return g


def _binary_add(ctx: PartyContext, a: Any, b: Any) -> Any:
    """Binary-shared planes of a + b (mod 2^64) from binary-shared planes a and b."""
    be = ctx.be
    p = be.xor(a, b)
    g = and_bits(ctx, a, b)
    carries = _carries(ctx, g, p)
    shifted = be.xp.concatenate([be.xp.zeros_like(carries[:1]), carries[:-1]])
    return be.xor(p, shifted)


def _shared_operands(ctx: PartyContext, x: Any) -> tuple[Any, Any, int]:
    """Binary-shared planes a, b with a + b = x (mod 2^64), from the parties' own shares.

    Each party's share is a binary-shared input of its own (the party holds it, the others
    hold zeros); more than two are summed in a tree of bit-sliced adders, one level per
    batched adder call.
    """
    be = ctx.be
    flat = be.xp.ascontiguousarray(x.reshape(-1))
    mine = be.bit_decompose(flat)
    words = mine.shape[1]
    zero = be.xp.zeros_like(mine)
    operands = [mine if i == ctx.rank else zero for i in range(ctx.n_parties)]
    while len(operands) > 2:
        pairs = len(operands) // 2
        left = be.xp.concatenate(operands[0:2 * pairs:2], axis=1)
        right = be.xp.concatenate(operands[1:2 * pairs:2], axis=1)
        summed = _binary_add(ctx, left, right)
        paired = [summed[:, i * words:(i + 1) * words] for i in range(pairs)]
        operands = paired + ([operands[-1]] if len(operands) % 2 else [])
    return operands[0], operands[1], flat.size


def _group_tree(ctx: PartyContext, g: Any, p: Any) -> Any:
    """Carry out of the whole range from per-group (G, P) planes, lowest group first: pairs
    of adjacent groups merge level by level (one round each, G and P products batched)."""
    be, xp = ctx.be, ctx.be.xp
    while g.shape[0] > 1:
        k = g.shape[0] // 2
        lo_g, hi_g, lo_p, hi_p = g[0:2 * k:2], g[1:2 * k:2], p[0:2 * k:2], p[1:2 * k:2]
        if g.shape[0] == 2:  # the last merge needs no P
            return be.xor(hi_g, and_bits(ctx, hi_p, lo_g))[0]
        prod = and_bits(ctx, xp.concatenate([hi_p, hi_p]), xp.concatenate([lo_g, lo_p]))
        new_g, new_p = be.xor(hi_g, prod[:k]), prod[k:]
        if g.shape[0] % 2:
            new_g, new_p = xp.concatenate([new_g, g[-1:]]), xp.concatenate([new_p, p[-1:]])
        g, p = new_g, new_p
    return g[0]


def _owned_pairs(ctx: PartyContext, a: Any, b: Any) -> tuple[Any, Any]:
    """Two parties, a held whole by party 0 and b by party 1: (G, P) of the 2-bit groups of
    bits 0..62 in ONE round. Every term is a product of something party 0 knows and something
    party 1 knows:  G = a1 b1 + (a1 a0) b0 + a0 (b1 b0),  P = a1 a0 + a1 b0 + a0 b1 + b1 b0
    (XOR sums), and the lone bit 62 gives G = a62 b62, P = a62 + b62."""
    be, xp = ctx.be, ctx.be.xp
    a0, a1, b0, b1 = a[0:62:2], a[1:62:2], b[0:62:2], b[1:62:2]
    aa, bb = be.and_(a1, a0), be.and_(b1, b0)  # local: each party's own products (0 on the other)
    left = xp.concatenate([a1, aa, a0, a1, a0, a[62:63]])
    right = xp.concatenate([b1, b0, bb, b0, b1, b[62:63]])
    prod = and_bits(ctx, left, right)
    k = a0.shape[0]
    t = [prod[i * k:(i + 1) * k] for i in range(5)]
    g = be.xor(be.xor(t[0], t[1]), t[2])
    p = be.xor(be.xor(be.xor(aa, bb), t[3]), t[4])
    g = xp.concatenate([g, prod[5 * k:]])
    p = xp.concatenate([p, be.xor(a[62:63], b[62:63])])
    return g, p


#: The masked comparisons split the dealer's mask r into digits: of 8 bits for the spline (one
#: mask serves 96 comparisons: ``byte_thermometers``, 3 tree levels), of 4 bits for a sign (one
#: comparison per mask: 8 times less dealer material, one tree level more: ``digit_planes``).
SIGN_DIGIT_BITS = 4
#: uint64 words per element of ``byte_thermometers``: 8 digits x 256 bits
THERMOMETER_WORDS = 32
_BYTE_CODES = np.packbits(np.arange(256)[None, :] < np.arange(256)[:, None], axis=1, bitorder="little")


def _bytes(xp: Any, s: Any) -> Any:
    """(..., 8) int64: the bytes of uint64 words, lowest first."""
    return xp.ascontiguousarray(s).view(xp.uint8).reshape(*s.shape, 8).astype(xp.int64)


def byte_thermometers(xp: Any, r: Any) -> Any:
    """(E, 32) uint64: for each byte of r (lowest first) its 256-bit thermometer code (bit v set
    iff v < the byte). The dealer XOR-shares these; a party then reads [d < byte] at bit d and
    [d == byte] as bit d - 1 XOR bit d, for any public byte d."""
    r = xp.asarray(r, dtype=xp.uint64).reshape(-1)
    codes = xp.asarray(_BYTE_CODES)[_bytes(xp, r)]                       # (E, 8, 32) bytes
    return xp.ascontiguousarray(codes).reshape(r.shape[0], -1).view(xp.uint64)


def _borrow_tree(ctx: PartyContext, borrow: Any, equal: Any) -> Any:
    """XOR shares of [a < b] from the per-digit planes of [a_d < b_d] (P, W) and [a_d == b_d]
    for digits 1..P-1 (P - 1, W; digit 0, the lowest, never needs its equality), P a power of
    two (8 bytes, or 16 nibbles): adjacent digits merge, [a < b] = lt_hi ^ (eq_hi & lt_lo) and
    eq = eq_hi & eq_lo, one round per level with all of a level's ANDs in one call (P - 1
    borrow ANDs and P - 1 - levels equality ANDs in all)."""
    be, xp = ctx.be, ctx.be.xp
    triples = _and_triples(ctx, [borrow.shape[0] >> level for level in range(borrow.shape[0].bit_length() - 1)],
                           tuple(borrow.shape[1:]))
    while borrow.shape[0] > 1:
        k = borrow.shape[0] // 2
        hi_b, lo_b = borrow[1::2], borrow[0::2]
        hi_e, lo_e = equal[0::2], equal[1::2]                            # digits 1, 3, ... and 2, 4, ...
        prod = and_bits(ctx, xp.concatenate([hi_e, hi_e[1:]]), xp.concatenate([lo_b, lo_e]), next(triples))
        borrow, equal = be.xor(hi_b, prod[:k]), prod[k:]                 # merged digits 0..k-1, 1..k-1
    return borrow[0]


def _and_triples(ctx: PartyContext, digits: list[int], rest: tuple[int, ...]) -> Any:
    """The AND triples of every level of a borrow tree (a level of P digits ANDs P - 1 rows),
    asked for in one dealer request: the rows of each level in turn."""
    total = (sum(p - 1 for p in digits), *rest)
    a, b, c = ctx.randomness("and", (total, total), total)
    start = 0
    for p in digits:
        rows = slice(start, start + p - 1)
        yield a[rows], b[rows], c, rows
        start += p - 1


def less_than_mask(ctx: PartyContext, s: Any, therm: Any) -> Any:
    """XOR shares of [s < r] for public words s (E, K) and the dealer's mask r of each element
    (its bytes' thermometer codes XOR-shared, ``byte_thermometers``), packed in words (E * K
    bits, row major): the bytes compare locally, and a 3-level tree of ANDs merges them: 3
    rounds, 11 ANDs (22 opened bits) per comparison, whatever the number of parties."""
    be = ctx.be
    lt, eq = be.byte_compare(be.xp.asarray(s, dtype=be.xp.uint64), therm, ctx.rank == 0)
    return _borrow_tree(ctx, lt, eq[1:])


def digit_planes(be: RingBackend, r: Any) -> Any:
    """(16, 16, W) uint64: the thermometer codes of r's 4-bit digits, bit-sliced over the E
    elements (W = ceil(E / 64) words): plane [j, v] holds [v < digit j of r] for every element.
    The dealer XOR-shares these for the masked sign (``_masked_msb``); the compiled backend
    builds them in one pass (``RingBackend.digit_thermometers``)."""
    return be.digit_thermometers(r)


def _masked_msb(ctx: PartyContext, x: Any) -> Any:
    """``msb_bits`` by the masked comparison, for any number of parties, in 5 rounds: the dealer's
    r comes with its 4-bit digits' thermometer codes (XOR-shared, bit-sliced: 32 bytes per
    element); x^ = x + r is opened, and x's top bit is x^_63 xor r_63 xor [x^ mod 2^63 < r mod
    2^63]. Each digit's [x^_j < r_j] and [x^_j == r_j] are local: the code's bit at x^_j (and
    the one below), selected by x^_j's public minterm planes; the top digit drops its top bit
    (T[d + 8] ^ T[d] ^ T[7], E[d] ^ E[d + 8], with r_63 = T[7]). A 4-level tree of ANDs merges
    the 16 digits (``_borrow_tree``: 26 ANDs). (Adding the n parties' shares in binary instead
    costs 14 rounds at 3 parties, 21 at 5, and 5 times the bytes.)"""
    be, xp = ctx.be, ctx.be.xp
    flat = xp.ascontiguousarray(x.reshape(-1))
    e = int(flat.shape[0])
    count, values = 64 // SIGN_DIGIT_BITS, 1 << SIGN_DIGIT_BITS
    words = -(-e // 64)
    r, planes = ctx.randomness("mask_digits", ((e,),), (count, values, words))
    (c,) = open_values(ctx, [be.add(flat, r)])
    public = be.bit_decompose(c)                                                 # x^'s bit planes (64, W)
    planes = ctx.ready(planes)
    lt, eq = be.digit_compare(public, planes, ctx.rank == 0)                    # per digit (16, W)
    r_top = planes[count - 1, values // 2 - 1]                                   # [7 < r_15]: r's top bit
    top = r_top ^ public[63] if ctx.rank == 0 else r_top
    return be.xor(top, _borrow_tree(ctx, lt, eq[1:]))


def msb_bits(ctx: PartyContext, x: Any) -> Any:
    """XOR shares of the sign bit of each element of [x], bit-sliced in words (W,).

    The masked comparison (``_masked_msb``: 5 rounds whatever the number of parties), unless a
    2-party session asks for the adder (``costs.comparison`` 'adder', or 'auto' where
    ``CostModel.comparison_variant`` finds it cheaper): arithmetic-to-binary keeping only the
    carry into bit 63, by a tree over groups of bits: 1 round for the 2-bit groups + 5 levels
    = 6 rounds.
    """
    from .costs import CostModel

    be = ctx.be
    if (ctx.costs or CostModel()).comparison_variant(int(np.prod(x.shape)), ctx.n_parties) == "masked":
        return _masked_msb(ctx, x)
    a, b, _ = _shared_operands(ctx, x)
    top = be.xor(a[63], b[63])
    if ctx.n_parties == 2:
        g, p = _owned_pairs(ctx, a, b)
    else:
        g, p = and_bits(ctx, a[:63], b[:63]), be.xor(a[:63], b[:63])
    return be.xor(top, _group_tree(ctx, g, p))


def bit_planes(ctx: PartyContext, x: Any) -> tuple[Any, int]:
    """XOR shares of all 64 bits of [x], as bit planes (64, W); and the element count."""
    a, b, n = _shared_operands(ctx, x)
    return _binary_add(ctx, a, b), n


def b2a_bits(ctx: PartyContext, words: Any, n: int) -> Any:
    """Additive shares (integers 0/1) of the first n bits (last axis) of XOR-shared words:
    one round. ``words`` may have leading axes, e.g. bit planes (64, W) -> (64, n)."""
    be = ctx.be
    out_shape = tuple(words.shape[:-1]) + (n,)
    r_words, r_arith = ctx.randomness("bit", (tuple(words.shape),), out_shape, params=n)
    (e_words,) = open_bits(ctx, [be.xor(words, r_words)])
    r_arith = ctx.ready(r_arith)
    e = be.asarray(be.unpack_bits(e_words, n).astype(np.uint64))
    # b = e xor r = e + r - 2 e r, with e public.
    out = be.sub(r_arith, be.mul(be.lshift(e, 1), r_arith))
    return be.add(out, e) if ctx.rank == 0 else out


def mul_bit(ctx: PartyContext, x: Any, words: Any, complement: bool = False, with_bit: bool = False) -> Any:
    """[x * s] (or [x * (1 - s)]) for XOR-shared bits s (words, one bit per element of x):
    bit injection in ONE round. With the dealer's random bit r (XOR and additive shares) and
    c = a r: open e = s xor r and eps = x - a together; then s = e + r - 2 e r and
    x s = e x + (1 - 2 e)(eps r + c). ``with_bit``: also the additive 0/1 shares of s (or
    1 - s), which that opening gives for free."""
    be = ctx.be
    n = int(np.prod(x.shape))
    rw, a, r, c = ctx.randomness("bitmul", (tuple(words.shape), tuple(x.shape)), (n,), params=n,
                                 more_derived=(tuple(x.shape),))
    e_words, eps = _open_mixed(ctx, [be.xor(words, rw)], [be.sub(x, a)])
    e = be.asarray(be.unpack_bits(e_words, n).astype(np.uint64)).reshape(x.shape)
    r, c = ctx.ready(r, c)
    r = r.reshape(x.shape)
    xr = be.add(be.mul(eps, r), c)  # x r = eps r + a r, eps public
    flip = be.sub(1, be.lshift(e, 1))                                  # 1 - 2 e
    xs = be.add(be.mul(e, x), be.mul(flip, xr))
    out = be.sub(x, xs) if complement else xs
    if not with_bit:
        return out
    bit = be.neg(be.mul(flip, r)) if complement else be.mul(flip, r)   # s = e + (1 - 2 e) r
    if ctx.rank == 0:
        bit = be.add(bit, be.sub(1, e) if complement else e)
    return out, bit


def _open_mixed(ctx: PartyContext, xor_shares: list[Any], add_shares: list[Any]) -> list[Any]:
    """Open XOR-shared and additively shared values in one round."""
    gathered = ctx.comm.exchange(xor_shares + add_shares)
    k = len(xor_shares)
    opened = fold_shares([g[:k] for g in gathered], k, ctx.be.xor)
    return opened + fold_shares([g[k:] for g in gathered], len(add_shares), ctx.be.add)


def ltz(ctx: PartyContext, x: Any) -> Any:
    """Additive shares (integers 0/1) of [x < 0], shaped like x."""
    return b2a_bits(ctx, msb_bits(ctx, x), int(np.prod(x.shape))).reshape(x.shape)


def _open(ctx: PartyContext, shares: list[Any], combine: Callable[[Any, Any], Any]) -> list[Any]:
    return fold_shares(ctx.comm.exchange(shares), len(shares), combine)


def open_values(ctx: PartyContext, shares: list[Any]) -> list[Any]:
    """Reveal these additively shared values to every party: one round, 8 (n-1) B/element."""
    return _open(ctx, shares, ctx.be.add)


def beaver(ctx: PartyContext, x: Any, y: Any, kind: str, params: Any = None) -> Any:
    """[x * y], [x @ y] or [conv2d(x, y)] with a dealer triple: one round opening x - a and
    y - b together. ``params`` = (stride, padding) for "conv"."""
    be = ctx.be
    op = _ring_ops(be, params)[kind]
    if kind == "mul":
        out_shape = tuple(np.broadcast_shapes(x.shape, y.shape))
    elif kind == "matmul":
        out_shape = matmul_shape(tuple(x.shape), tuple(y.shape))
    else:
        out_shape = conv2d_shape(tuple(x.shape), tuple(y.shape), *params)
    a, b, c = ctx.randomness(kind, (tuple(x.shape), tuple(y.shape)), out_shape, params=params)
    eps, delta = open_values(ctx, [be.sub(x, a), be.sub(y, b)])
    c = ctx.ready(c)
    # x y = eps delta + eps b + a delta + a b; party 0 folds eps delta into eps (b_0 + delta),
    # so every party does two products.
    b_term = be.add(b, delta) if ctx.rank == 0 else b
    return be.add(c, be.add(op(eps, b_term), op(a, delta)))


def square(ctx: PartyContext, x: Any) -> Any:
    """[x * x] with a dealer square pair (a, a^2): one round opening only x - a."""
    be = ctx.be
    a, c = ctx.randomness("square", (tuple(x.shape),), tuple(x.shape))
    (eps,) = open_values(ctx, [be.sub(x, a)])
    c = ctx.ready(c)
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
    rt = ctx.ready(rt)
    return be.add(rt, be.arshift(c, f)) if ctx.rank == 0 else rt


