"""Function-secret-sharing gates for two parties and a dealer (Boyle et al., EUROCRYPT 2021).

The dealer masks each input with a random r_in and hands each party a key; online, the
parties open the masked input x^ = x + r_in (one round, 8 bytes per element per party) and
evaluate their keys on x^ locally. The gates here are built on a distributed comparison
function (``secured.backend.fss_kernels``: a GGM tree on fixed-key AES, compiled with AES-NI):

- ``sign``: XOR shares of [x >= 0] (DReLU) in 1 round, 8 bytes per element online.
- ``relu`` / ``drelu``: additive shares of max(x, 0) and of [x >= 0] in 2 rounds, 8.125 bytes
  per element online: the second round opens the DReLU bit masked by a dealer bit (1 bit per
  element), after which the product with x is linear in the opened values.
- ``spline``: a piecewise-linear function (sigmoid and tanh tables, or any ``fit_spline``) in
  2 rounds: the masked input on ``bits`` bits (4 bytes up to 32 bits), then the index of the
  input's piece and the mask's wrap, masked (K bits: one byte up to 127 breakpoints); the
  dealer's shared unit vector at the index mask picks the piece locally. Exact up to one unit
  in the last place on |x| < 2^(bits - 1 - frac). 95 breakpoints: 5 bytes per element.
- ``RingSpline`` / ``ring_spline``: the same tables over the whole ring for the n-party masked
  spline (``secured.mpc._nonlinear.spline``; its dealer material from ``ring_spline_material``).
- ``truncate``: x / 2^shift as a one-piece spline, 2 rounds, 8.125 bytes, within one unit on
  |x| < 2^(bits - 1), never the 2-party local truncation's rare wrap.

Sign on ``bits`` bits: x^ mod 2^bits = y, and with r = r_in mod 2^bits, the top bit of
(y - r) mod 2^bits is y_top xor r_top xor [y_low < r_low] (the borrow of the low bits), the
last term a DCF on bits - 1 bits with alpha = r_low. This is exact for every x with
-2^(bits-1) <= x < 2^(bits-1); ``bits=64`` (the default) covers the whole ring, smaller
widths give smaller keys for values known to be bounded.

Key material: every random value the dealer draws comes from ChaCha20 under a fresh key from
the operating system (``secured.backend.new_key``), never a fixed or time seed. A party's key
is its 128-bit tree seed and the shared corrections (16 bytes and 3 bits per tree level, the
last 7 levels replaced by one 16-byte leaf correction), plus its shares of r_in and the
dealer's mask bits. Keys travel seed-compressed (``key_arrays``): each party's key carries a
32-byte key seed from which its tree seeds expand, and party 1's shares too, so only party 0
receives shares (the complements; the corrections cannot be compressed: they are the same for
both parties and depend on the mask). A ReLU key is then 959 bytes per element for party 0 and
933 for party 1 at 64 bits (973 each sent whole; the acceptance bound is 1,000); a spline
gate's 41.8 and 37.7 KB (43.3 whole). ``key_bytes`` reports what the dealer sends each party.

Only two parties: multi-party DCF keys grow exponentially with the number of parties, so
sessions with more parties keep the protocols of ``secured.mpc._protocols``.
"""

from __future__ import annotations

import json
import math
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import numpy as np

from ..backend import chacha20_words, new_key
from ..backend import fss_kernels
from ..exceptions import ConfigurationError
from .costs import FSS_SPLINE_BREAKPOINTS, SPLINE_BREAKPOINTS, TABLE_BREAKPOINTS, TABLE_RANGE

__all__ = ["DCFKey", "SignKey", "sign_keygen", "sign", "relu", "drelu", "dcf_keygen", "key_bytes", "Spline",
           "fit_spline", "fit_bounded", "named_spline", "FixedSpline", "SplineKey", "spline_keygen", "spline",
           "SPLINE_KINDS", "spline_table",
           "key_arrays", "key_from_arrays", "truncation_table", "truncate_keygen", "truncate",
           "RingSpline", "ring_spline", "mul_floor", "ring_spline_material", "breakpoints_of"]

_ONE = np.uint64(1)


@dataclass
class DCFKey:
    """One party's key of a batch of DCFs on ``n``-bit inputs (see fss_kernels for the layout)."""
    party: int
    n: int
    seeds: np.ndarray      # (m, 2) uint64: this party's 128-bit tree seeds
    scw: np.ndarray        # (m, L, 2) uint64: seed corrections (the same in both keys), L tree levels
    ctl: np.ndarray        # (m, L) uint8: output and control-bit corrections
    fin: np.ndarray        # (m, 2) uint64: the leaf block's correction (the last min(7, n) bits)

    def eval(self, x: np.ndarray, threads: Optional[int] = None) -> np.ndarray:
        """XOR shares (uint8) of [x < alpha] for public x."""
        return fss_kernels.dcf_eval(self.party, self.n, self.seeds, self.scw, self.ctl, self.fin, x, threads=threads)

    def wire_bytes(self, compressed: bool = False) -> int:
        """Bytes of this key on the wire (bits packed): the corrections, and the seeds unless
        they are derived from the party's dealer seed."""
        m, levels = self.seeds.shape[0], self.scw.shape[1]
        return (0 if compressed else 16 * m) + 16 * m * levels + math.ceil(3 * m * levels / 8) + 16 * m


class _Stream:
    """Dealer randomness: ChaCha20 words under a fresh OS key (one stream per key set)."""

    def __init__(self, key: Optional[bytes] = None) -> None:
        self.key, self.counter = key or new_key(), 0

    def words(self, n: int) -> np.ndarray:
        self.counter += 1
        return chacha20_words(self.key, self.counter, n) if n else np.zeros(0, dtype=np.uint64)

    def bits(self, n: int) -> np.ndarray:
        return (self.words(n) & _ONE).astype(np.uint8)


_ROOT_MASK = np.array([~np.uint64(3), ~np.uint64(0)], dtype=np.uint64)   # a tree seed's low 2 bits are free
#: Bytes of a party's key seed: its tree seeds and (the party that needs no correction) its
#: shares are expanded from it instead of sent.
KEY_SEED_BYTES = 32


def _roots(seed: bytes, m: int) -> np.ndarray:
    """(m, 2) tree seeds expanded from a party's key seed (the first words of its stream)."""
    return chacha20_words(seed, 1, 2 * m).reshape(m, 2) & _ROOT_MASK


class _Derived(_Stream):
    """A party's key stream: its tree seeds, then its shares (counters 2, 3, ...)."""

    def __init__(self, seed: bytes) -> None:
        super().__init__(seed)
        self.counter = 1


def dcf_keygen(alpha: np.ndarray, n: int, stream: Optional[_Stream] = None,
               threads: Optional[int] = None, roots: Optional[tuple[np.ndarray, np.ndarray]] = None,
               ) -> tuple[DCFKey, DCFKey]:
    """Keys for [x < alpha] on n-bit inputs, one pair per element of alpha (< 2^n); the two
    parties' tree seeds from ``stream``, or ``roots`` (expanded from their key seeds)."""
    stream = stream or _Stream()
    alpha = np.ascontiguousarray(alpha, dtype=np.uint64).reshape(-1)
    m = alpha.shape[0]
    if n < 64 and m and int(alpha.max()) >> n:
        raise ConfigurationError(f"alpha must be below 2^{n}.")
    if roots is None:
        seeds = stream.words(4 * m).reshape(2, m, 2) & _ROOT_MASK
    else:
        seeds = np.stack([np.ascontiguousarray(roots[0]), np.ascontiguousarray(roots[1])])
    scw, ctl, fin = fss_kernels.dcf_gen(n, alpha, seeds[0], seeds[1], threads=threads)
    return tuple(DCFKey(b, n, np.ascontiguousarray(seeds[b]), scw, ctl, fin) for b in (0, 1))  # type: ignore


@dataclass
class SignKey:
    """One party's key of the sign / DReLU / ReLU gates for a batch of elements."""
    party: int
    bits: int
    shape: tuple[int, ...]
    dcf: DCFKey
    r_in: np.ndarray       # uint64 additive share of the input mask
    r_top: np.ndarray      # uint8 XOR share of bit bits-1 of the mask
    m_bit: np.ndarray      # uint8 XOR share of the dealer's mask bit m (ReLU's second round)
    m_add: np.ndarray      # uint64 additive share of m
    m_r: np.ndarray        # uint64 additive share of m * r_in
    seed: bytes = b""      # the party's key seed: its tree seeds (and party 1's shares) expand from it

    def key_bytes(self) -> float:
        """Dealer bytes per element for this party (see ``key_bytes``)."""
        return key_bytes(self)


def key_bytes(key: "SignKey | SplineKey") -> float:
    """Bytes per element the dealer sends one party, seed-compressed: the DCF corrections, the
    32-byte key seed (its tree seeds expand from it), and, for party 0 only, its shares of the
    values the dealer correlates (party 1's shares expand from its seed): for a sign key r_in,
    m and m * r_in (8 bytes each) and r_top and m's bit; for a spline key r_in (4 bytes), the
    index mask's bits and the two tables (8 bytes a word); a spline key set also carries its
    public table."""
    m = int(np.prod(key.shape)) or 1
    corrections = key.dcf.wire_bytes(compressed=True) / m + KEY_SEED_BYTES / m
    if isinstance(key, SignKey):
        return corrections + (8 + 8 + 8 + 2 / 8 if key.party == 0 else 0.0)
    t = key.table                                   # the public table travels with each key set
    corrections += (t.points.nbytes + t.slopes.nbytes + t.consts.nbytes) / m
    if key.party == 1:
        return corrections
    return corrections + (4 if t.bits <= 32 else 8) + key.offset.shape[-1] / 8 + 8 * 2 * key.onehot.shape[-1]


def sign_keygen(shape: tuple[int, ...], *, bits: int = 64, dealer_key: Optional[bytes] = None,
                threads: Optional[int] = None) -> tuple[SignKey, SignKey]:
    """Keys of the sign / DReLU / ReLU gates for values of ``shape`` known to lie in
    [-2^(bits-1), 2^(bits-1)) (``bits=64``: any ring element)."""
    if isinstance(bits, bool) or not isinstance(bits, int) or not 2 <= bits <= 64:
        raise ConfigurationError("bits must be an int from 2 to 64.")
    stream = _Stream(dealer_key)
    m = int(np.prod(shape))
    seeds = [stream.words(KEY_SEED_BYTES // 8).tobytes() for _ in (0, 1)]
    r_in = stream.words(m)
    low_mask = np.uint64((1 << (bits - 1)) - 1)
    low = r_in & low_mask
    top = ((r_in >> np.uint64(bits - 1)) & _ONE).astype(np.uint8)
    dcf = dcf_keygen(low, bits - 1, threads=threads, roots=(_roots(seeds[0], m), _roots(seeds[1], m)))
    mask = stream.bits(m)
    derived = _sign_shares(seeds[1], m)                                   # party 1's, from its seed
    r1, t1, mb1, ma1, mr1 = derived
    with np.errstate(over="ignore"):
        parts = [(r_in - r1, top ^ t1, mask ^ mb1, mask.astype(np.uint64) - ma1, mask.astype(np.uint64) * r_in - mr1),
                 derived]
    return tuple(SignKey(b, bits, tuple(shape), dcf[b], *parts[b], seed=seeds[b]) for b in (0, 1))  # type: ignore


def _sign_shares(seed: bytes, m: int) -> tuple[np.ndarray, ...]:
    """Party 1's shares of a sign key (r_in, r_top, m's bit, m, m * r_in), from its key seed."""
    d = _Derived(seed)
    return d.words(m), d.bits(m), d.bits(m), d.words(m), d.words(m)


def _masked_sign_bits(comm: Any, x: np.ndarray, key: SignKey, threads: Optional[int]) -> tuple[np.ndarray, np.ndarray]:
    """Round 1: open x^ = x + r_in; XOR shares of [x >= 0] and the opened x^."""
    x = np.ascontiguousarray(x, dtype=np.uint64).reshape(-1)
    if x.shape[0] != key.r_in.shape[0]:
        raise ConfigurationError(f"The key is for {key.r_in.shape[0]} elements; the input has {x.shape[0]}.")
    with np.errstate(over="ignore"):
        gathered = comm.exchange([x + key.r_in])                    # round 1: open the masked input
        opened = gathered[0][0] + gathered[1][0]
    bits = key.bits
    y = opened & np.uint64((1 << bits) - 1) if bits < 64 else opened
    y_top = ((y >> np.uint64(bits - 1)) & _ONE).astype(np.uint8)
    borrow = key.dcf.eval(y & np.uint64((1 << (bits - 1)) - 1), threads)
    msb = borrow ^ key.r_top ^ (y_top if key.party == 0 else np.uint8(0))
    nonneg = msb ^ np.uint8(1) if key.party == 0 else msb
    return nonneg, opened


def sign(comm: Any, x: np.ndarray, key: SignKey, threads: Optional[int] = None) -> np.ndarray:
    """XOR shares (uint8, shaped like x) of [x >= 0]: one round."""
    nonneg, _ = _masked_sign_bits(comm, x, key, threads)
    return nonneg.reshape(key.shape)


def _arith_nonneg(comm: Any, x: np.ndarray, key: SignKey, threads: Optional[int]):
    nonneg, opened = _masked_sign_bits(comm, x, key, threads)
    masked = np.packbits(nonneg ^ key.m_bit)                      # 1 bit per element on the wire
    gathered = comm.exchange([masked])                                # round 2: open the masked bit
    d_hat = np.unpackbits(gathered[0][0] ^ gathered[1][0])[:nonneg.shape[0]].astype(np.uint64)
    with np.errstate(over="ignore"):
        sign_flip = _ONE - (d_hat << _ONE)                          # 1 - 2 d^ (mod 2^64)
        d = sign_flip * key.m_add + (d_hat if key.party == 0 else np.uint64(0))
    return d, d_hat, sign_flip, opened


def drelu(comm: Any, x: np.ndarray, key: SignKey, threads: Optional[int] = None) -> np.ndarray:
    """Additive shares (uint64 0/1, shaped like x) of [x >= 0]: two rounds."""
    d, *_ = _arith_nonneg(comm, x, key, threads)
    return d.reshape(key.shape)


def relu(comm: Any, x: np.ndarray, key: SignKey, threads: Optional[int] = None) -> np.ndarray:
    """Additive shares (uint64, shaped like x) of max(x, 0) (x a signed ring element): two
    rounds, 8.125 bytes per element per party online."""
    d, d_hat, sign_flip, opened = _arith_nonneg(comm, x, key, threads)
    with np.errstate(over="ignore"):
        # d * x = d * x^ - d * r_in, and d * r_in = d^ r_in + (1 - 2 d^) m r_in (all linear in shares)
        out = opened * d - d_hat * key.r_in - sign_flip * key.m_r
    return out.reshape(key.shape)


# ---------------------------------------------------------------------------- splines
@dataclass(frozen=True)
class Spline:
    """A piecewise-linear function: piece j (0..m) is ``slopes[j] * x + intercepts[j]`` on
    [breaks[j-1], breaks[j]) (piece 0 below breaks[0], piece m from breaks[m-1] on)."""
    name: str
    breaks: np.ndarray
    slopes: np.ndarray
    intercepts: np.ndarray

    def __call__(self, x: np.ndarray) -> np.ndarray:
        j = np.searchsorted(self.breaks, x, side="right")
        return self.slopes[j] * x + self.intercepts[j]


_GRID = np.linspace(0.0, 1.0, 40)


def _shift_errors(xs: np.ndarray, ys: np.ndarray, width: Any, relative: bool) -> tuple[np.ndarray, ...]:
    """For rows of points (k, 40) on pieces [a, a + width]: the secant's slope, the shift of the secant
    with the smallest largest error, and that error: absolute (half the spread of the gaps), or
    relative to |fn|."""
    slope = (ys[:, -1] - ys[:, 0]) / width
    gap = ys - (ys[:, :1] + slope[:, None] * (xs - xs[:, :1]))
    if not relative:
        return slope, (gap.max(axis=1) + gap.min(axis=1)) / 2, (gap.max(axis=1) - gap.min(axis=1)) / 2
    # min over c of max_i |g_i - c| / s_i is max over pairs (g_i - g_j) / (s_i + s_j), at
    # c = (g_i s_j + g_j s_i) / (s_i + s_j) for the maximizing pair (a 1-d weighted minimax)
    scale = np.abs(ys)
    pair_sum = scale[:, :, None] + scale[:, None, :]
    spread = (gap[:, :, None] - gap[:, None, :]) / pair_sum
    best = spread.reshape(len(gap), -1).argmax(axis=1)
    i, j = np.divmod(best, gap.shape[1])
    rows = np.arange(len(gap))
    shift = (gap[rows, i] * scale[rows, j] + gap[rows, j] * scale[rows, i]) / pair_sum[rows, i, j]
    return slope, shift, spread.reshape(len(gap), -1)[rows, best]


def _segment(fn: Any, a: float, b: float, relative: bool = False) -> tuple[float, float, float]:
    """The best line on [a, b] for a function of one curvature sign there (the secant moved
    to balance its largest errors), its intercept and its largest error on a grid of 40 points
    (absolute, or relative to |fn|)."""
    if b <= a:
        return 0.0, float(fn(np.array([a]))[0]), 0.0
    xs = (a + (b - a) * _GRID)[None, :]
    ys = fn(xs)
    slope, shift, err = _shift_errors(xs, ys, b - a, relative)
    return float(slope[0]), float(ys[0, 0] - slope[0] * a + shift[0]), float(err[0])


def _errors(fn: Any, a: float, ends: np.ndarray, relative: bool = False) -> np.ndarray:
    """``_segment``'s largest error for the pieces [a, b], every b in ``ends`` at once."""
    xs = a + (ends[:, None] - a) * _GRID[None, :]
    return _shift_errors(xs, fn(xs), ends - a, relative)[2]


def _cover(fn: Any, lo: float, hi: float, eps: float, limit: int, relative: bool = False) -> list[float] | None:
    """Greedy breakpoints over [lo, hi]: each piece as long as its line stays within eps (the
    error grows with the piece: 4 rounds of 64 candidate ends narrow the longest to 6e-8 of
    the range); None when more than ``limit`` pieces are needed."""
    breaks, a = [lo], lo
    while a < hi:
        if len(breaks) > limit:
            return None
        if _segment(fn, a, hi, relative)[2] <= eps:
            breaks.append(hi)
            break
        good, bad = a, hi
        for _ in range(4):
            ends = np.linspace(good, bad, 65)[1:]
            ok = _errors(fn, a, ends, relative) <= eps
            first_bad = int(np.argmin(ok)) if not ok.all() else len(ends)
            if first_bad:
                good = float(ends[first_bad - 1])
            if first_bad < len(ends):
                bad = float(ends[first_bad])
        if good - a < 1e-9:
            return None
        breaks.append(good)
        a = good
    return breaks


def _tail(fn: Any, level: float, eps: float, span: tuple[float, float], side: int) -> float:
    """Where |fn(side * t) - level| falls to eps (t in span, a monotone tail): bisection."""
    lo, hi = span
    for _ in range(40):
        mid = (lo + hi) / 2
        lo, hi = (lo, mid) if abs(float(fn(np.array([side * mid]))[0]) - level) <= eps else (mid, hi)
    return side * hi


def _smallest_cover(breakpoints: int, cover: Any) -> list[float]:
    """The breakpoints ``cover(eps)`` places for the smallest error eps that fits in
    ``breakpoints`` (bisection on eps: 22 steps narrow a factor 1e9 to 1 + 5e-6)."""
    if isinstance(breakpoints, bool) or not isinstance(breakpoints, int) or not 2 <= breakpoints <= 255:
        raise ConfigurationError("breakpoints must be an int from 2 to 255.")
    low, high, best = 1e-9, 1.0, None
    for _ in range(22):
        eps = math.sqrt(low * high)
        breaks = cover(eps)
        if breaks is not None and len(breaks) <= breakpoints:
            high, best = eps, breaks
        else:
            low = eps
    if best is None:
        raise ConfigurationError("No spline with that many breakpoints fits the function.")
    return best


def _grid(values: Any) -> np.ndarray:
    """Values on a 2^-32 grid: every party fits its own copy for the classic protocols, and the
    last bits of a float fit may differ between machines; the grid makes the tables identical."""
    return np.round(np.asarray(values, dtype=np.float64) * 2.0 ** 32) / 2.0 ** 32


def fit_spline(fn: Any, breakpoints: int, *, left: float, right: float, span: tuple[float, float] = (1.0, 40.0),
               name: str = "") -> Spline:
    """A piecewise-linear approximation of ``fn`` with ``breakpoints`` breakpoints: constant
    ``left`` and ``right`` on the tails (where fn is within the error of them) and breakpoints
    - 1 lines between, placed so that every piece and both tails have the same largest error
    (the smallest error the breakpoints allow, found by bisection)."""
    best = _smallest_cover(breakpoints, lambda eps: _cover(
        fn, _tail(fn, left, eps, span, -1), _tail(fn, right, eps, span, 1), eps, breakpoints - 1))
    lines = [_segment(fn, a, b)[:2] for a, b in zip(best, best[1:])]
    return Spline(name, _grid(best), _grid([0.0, *(s for s, _ in lines), 0.0]),
                  _grid([left, *(c for _, c in lines), right]))


def fit_bounded(fn: Any, breakpoints: int, *, lo: float, hi: float, name: str = "") -> Spline:
    """A piecewise-linear approximation of a positive ``fn`` on [lo, hi] with the smallest
    largest error *relative to fn* that ``breakpoints`` breakpoints allow (the first at lo, the
    last at hi: breakpoints - 1 lines), saturated outside: fn(lo) below lo, fn(hi) above hi.
    For functions such as 1/x and 1/sqrt(x), whose values span orders of magnitude over the
    range, where an absolute fit would spend every piece near lo."""
    if not 0 < lo < hi or not np.all(fn(np.array([lo, hi])) > 0):
        raise ConfigurationError("fit_bounded needs 0 < lo < hi and a positive function there.")
    best = _smallest_cover(breakpoints, lambda eps: _cover(fn, lo, hi, eps, breakpoints - 1, relative=True))
    best = best + [hi] * (breakpoints - len(best))          # unused pieces: empty, at hi
    lines = [_segment(fn, a, b, relative=True)[:2] for a, b in zip(best, best[1:])]
    ends = fn(np.array([lo, hi], dtype=np.float64))
    return Spline(name, _grid(best), _grid([0.0, *(s for s, _ in lines), 0.0]),
                  _grid([ends[0], *(c for _, c in lines), ends[1]]))


_SPLINES: dict[tuple[str, int], Spline] = {}
_FIT_LOCK = threading.Lock()


#: The fitted tables the protocols use, shipped with the package (a fit takes ~0.5 s, and every
#: party actor and the dealer would make it at their first sigmoid); tests/mpc/test_fss_spline.py
#: refits them and compares, so they cannot drift from ``fit_spline``. ``write_spline_tables``
#: writes them.
SHIPPED_SPLINES = (*((name, m) for name in ("sigmoid", "tanh") for m in (SPLINE_BREAKPOINTS, FSS_SPLINE_BREAKPOINTS)),
                   ("exp", FSS_SPLINE_BREAKPOINTS), ("reciprocal", TABLE_BREAKPOINTS), ("rsqrt", TABLE_BREAKPOINTS))
_TABLES_FILE = Path(__file__).resolve().parent.parent / "data" / "spline_tables.json"


def _shipped(name: str, breakpoints: int) -> Optional[Spline]:
    """The shipped table (values on the fit's 2^-32 grid, stored as integers: exact)."""
    try:
        entry = json.loads(_TABLES_FILE.read_text())[f"{name}:{breakpoints}"]
    except (OSError, ValueError, KeyError):
        return None
    values = [np.asarray(entry[k], dtype=np.int64).astype(np.float64) / 2.0 ** 32
              for k in ("breaks", "slopes", "intercepts")]
    return Spline(name, *values)


def write_spline_tables(path: Optional[Path] = None) -> Path:
    """Fit the shipped tables afresh and write them (``secured/data/spline_tables.json``)."""
    path = Path(path or _TABLES_FILE)
    tables = {}
    for name, m in SHIPPED_SPLINES:
        spline = _fit_named(name, m)
        tables[f"{name}:{m}"] = {k: [int(v) for v in np.round(getattr(spline, k) * 2.0 ** 32)]
                                 for k in ("breaks", "slopes", "intercepts")}
    path.write_text(json.dumps(tables, indent=None, separators=(",", ":")) + "\n")
    return path


def named_spline(name: str, breakpoints: int = SPLINE_BREAKPOINTS) -> Spline:
    """The spline of ``sigmoid``, ``tanh``, ``exp`` (of min(x, 0)), ``reciprocal`` or ``rsqrt``
    with ``breakpoints`` breakpoints (the shipped table, else fitted once per process)."""
    key = (name, breakpoints)
    with _FIT_LOCK:                        # parties on threads of one process fit it once
        if key not in _SPLINES:
            _SPLINES[key] = _shipped(name, breakpoints) or _fit_named(name, breakpoints)
    return _SPLINES[key]


def _fit_named(name: str, breakpoints: int) -> Spline:
    if name == "sigmoid":
        return fit_spline(lambda x: 0.5 * (1.0 + np.tanh(x / 2)), breakpoints, left=0.0, right=1.0, name=name)
    if name == "tanh":
        return fit_spline(np.tanh, breakpoints, left=-1.0, right=1.0, name=name)
    if name == "exp":                     # exp of x <= 0 (softmax's shifted inputs); 1 above 0
        return fit_spline(lambda x: np.exp(np.minimum(x, 0.0)), breakpoints, left=0.0, right=1.0, name=name)
    if name == "reciprocal":
        return fit_bounded(lambda x: 1.0 / x, breakpoints, lo=TABLE_RANGE[0], hi=TABLE_RANGE[1], name=name)
    if name == "rsqrt":
        return fit_bounded(lambda x: 1.0 / np.sqrt(x), breakpoints, lo=TABLE_RANGE[0], hi=TABLE_RANGE[1], name=name)
    raise ConfigurationError(f"No spline named {name!r}; there are sigmoid, tanh, exp, reciprocal and rsqrt.")


@dataclass
class FixedSpline:
    """A spline on fixed-point inputs of ``frac`` fractional bits inside an ``bits``-bit domain
    (|x| < 2^(bits - 1 - frac)): breakpoints as offset ring integers, slopes with ``guard``
    fractional bits, intercepts with ``frac``. ``reference`` is its exact value."""
    name: str
    bits: int
    frac: int
    guard: int
    points: np.ndarray       # (m,) int64: round(t * 2^frac) + 2^(bits-1)
    slopes: np.ndarray       # (m+1,) int64: round(a * 2^guard)
    consts: np.ndarray       # (m+1,) int64: round(b * 2^frac) - slope * 2^(bits-1-guard)

    @classmethod
    def of(cls, spline: Spline, bits: int, frac: int) -> "FixedSpline":
        if isinstance(bits, bool) or not isinstance(bits, int) or not 8 <= bits <= 56 or frac >= bits - 2:
            raise ConfigurationError("A spline's domain needs 8 to 56 bits, more than its fractional bits + 2.")
        guard = min(20, bits - 1)
        half = 1 << (bits - 1)
        points = np.round(spline.breaks * 2.0 ** frac).astype(np.int64) + half
        if points.size and (points.min() <= 0 or points.max() >= 1 << bits):
            raise ConfigurationError("The spline's breakpoints lie outside the input domain; give more bits.")
        slopes = np.round(spline.slopes * 2.0 ** guard).astype(np.int64)
        if int(np.abs(slopes).max()) >= 1 << (62 - bits):
            raise ConfigurationError("The spline's slopes are too steep for its domain.")
        consts = np.round(spline.intercepts * 2.0 ** frac).astype(np.int64) - (slopes << (bits - 1 - guard))
        return cls(spline.name, bits, frac, guard, points, slopes, consts)

    def reference(self, x: np.ndarray) -> np.ndarray:
        """The value (float, in units of 2^-frac) for ring inputs x (int64 signed, in range)."""
        xu = np.asarray(x, dtype=np.int64) + (1 << (self.bits - 1))
        j = np.searchsorted(self.points, xu, side="right")
        return self.slopes[j] * xu.astype(np.float64) / 2.0 ** self.guard + self.consts[j]


def _index_bits(m: int) -> int:
    """Bits of a piece's index (0..m) for a spline of m breakpoints."""
    return int(m).bit_length()


def _flips(m: int) -> np.ndarray:
    """(m, index bits) 0/1: breakpoint k (1..m) flips bit l of the piece's index j = the number of
    breakpoints at or below x, so bit l of j is the XOR of the comparison bits that flip it."""
    k = np.arange(1, m + 1)
    return (((k[:, None] ^ (k[:, None] - 1)) >> np.arange(_index_bits(m))[None, :]) & 1).astype(np.int32)


def _unit_tables(index_mask: np.ndarray, d: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The dealer's two tables for index masks (E,) and the pieces' D (E, size / 2): the unit
    vector at the mask, and D read at u ^ mask for every u (the wrap bit is not in D)."""
    e, half = d.shape
    rows = np.arange(e)
    onehot = np.zeros((e, 2 * half), dtype=np.uint64)
    onehot[rows, index_mask] = 1
    full = np.concatenate([d, d], axis=1).astype(np.uint64)
    return onehot, full[rows[:, None], np.arange(2 * half)[None, :] ^ index_mask[:, None]]


def _pick(onehot: np.ndarray, dtab: np.ndarray, u: np.ndarray, pieces: np.ndarray, wrap: np.ndarray) -> np.ndarray:
    """A party's share of piece (J, w) from the opened u = (J, w) ^ mask: the public values of
    every piece at x^ (``pieces`` (E, size / 2), plus ``wrap`` when w = 1) weighted by its share
    of the unit vector read at v ^ u, less its share of D at u (mod 2^64); on the host's
    compiled backend (``RingBackend.spline_pick``)."""
    from ..backend import get_backend

    try:
        host = get_backend(name="cython")
    except ImportError:                      # no compiled core: the array code
        host = get_backend(name="numpy")
    return host.spline_pick(onehot, dtab, u, pieces, wrap)


@dataclass
class SplineKey:
    """One party's key of the spline gate for a batch of elements (``spline_keygen``)."""
    party: int
    shape: tuple[int, ...]
    table: FixedSpline
    dcf: DCFKey              # (E * (m+1)) comparisons: [x^ < p_i + r] for each breakpoint, then [x^ < r]
    r_in: np.ndarray         # (E,) uint64 additive share of r (mod 2^bits)
    offset: np.ndarray       # (E, K) uint8 XOR shares of the index's constant bits ^ rho (K = index bits + 1)
    onehot: np.ndarray       # (E, 2^K) uint64 additive shares of the unit vector at rho
    dtab: np.ndarray         # (E, 2^K) uint64 additive shares of D_(u ^ rho), D_j = floor(slope_j r / 2^guard)
    seed: bytes = b""        # the party's key seed: its tree seeds (and party 1's shares) expand from it

    def key_bytes(self) -> float:
        """Dealer bytes per element for this party (see ``key_bytes``)."""
        return key_bytes(self)


def spline_keygen(table: FixedSpline, shape: tuple[int, ...], *, dealer_key: Optional[bytes] = None,
                  threads: Optional[int] = None) -> tuple[SplineKey, SplineKey]:
    """Keys of the spline gate for values of ``shape`` (|x| < 2^(bits - 1 - frac) as ring
    integers). Two rounds online: the masked input (4 bytes when bits <= 32), then the masked
    index of the input's piece and the mask's wrap (K = index bits + 1 bits: one byte for up to
    127 breakpoints)."""
    stream = _Stream(dealer_key)
    e, m, n = int(np.prod(shape)), len(table.points), table.bits
    jb = _index_bits(m)
    size = 1 << (jb + 1)
    mask = np.uint64((1 << n) - 1)
    seeds = [stream.words(KEY_SEED_BYTES // 8).tobytes() for _ in (0, 1)]
    r = stream.words(e) & mask
    q = (table.points.astype(np.uint64)[None, :] + r[:, None]) & mask                       # (E, m)
    dcf = dcf_keygen(np.concatenate([q, r[:, None]], axis=1).reshape(-1), n, threads=threads,
                     roots=(_roots(seeds[0], e * (m + 1)), _roots(seeds[1], e * (m + 1))))
    # [xu >= p_k] = dcf_k ^ dcf_w ^ 1 ^ [q_k < r]: the constants' share of the index bits
    const = (np.uint8(1) ^ (q < r[:, None]).astype(np.uint8)).astype(np.int32)
    rho = stream.bits(e * (jb + 1)).reshape(e, jb + 1)
    offset = rho.copy()
    offset[:, :jb] ^= ((const @ _flips(m)) & 1).astype(np.uint8)
    rho_int = (rho.astype(np.int64) << np.arange(jb + 1)[None, :]).sum(axis=1)
    d = np.zeros((e, size // 2), dtype=np.int64)
    d[:, :m + 1] = (table.slopes[None, :] * r.astype(np.int64)[:, None]) >> table.guard      # floor
    onehot, dtab = _unit_tables(rho_int, d.view(np.uint64))
    r1, o1, h1, d1 = _spline_shares(seeds[1], e, n, jb)                    # party 1's, from its seed
    with np.errstate(over="ignore"):
        first = ((r - r1) & mask, offset ^ o1, onehot - h1, dtab - d1)
    return tuple(SplineKey(b, tuple(shape), table, dcf[b], *(first, (r1, o1, h1, d1))[b], seed=seeds[b])  # type: ignore
                 for b in (0, 1))


def _spline_shares(seed: bytes, e: int, n: int, jb: int) -> tuple[np.ndarray, ...]:
    """Party 1's shares of a spline key (r_in, the index offset bits, the unit vector, the
    slope table), from its key seed."""
    d = _Derived(seed)
    size = 1 << (jb + 1)
    return (d.words(e) & np.uint64((1 << n) - 1), d.bits(e * (jb + 1)).reshape(e, jb + 1),
            d.words(e * size).reshape(e, size), d.words(e * size).reshape(e, size))


def spline(comm: Any, x: np.ndarray, key: SplineKey, threads: Optional[int] = None) -> np.ndarray:
    """Additive shares (uint64, shaped like x, ``frac`` fractional bits) of the spline at x: two
    rounds. Round 1 opens x^ = x + r; each party evaluates the m + 1 comparisons on x^ and XORs
    its shares into shares of the piece's index and the mask's wrap, which round 2 opens masked
    by the dealer's rho (K bits). The value is then the public piece values at x^ picked by the
    dealer's shared unit vector, less the dealer's shared table of slope * r: local. Exact up to
    the fixed-point rounding of the piece (less than 1.5 units in the last place) for every x with
    |x| < 2^(bits - 1 - frac); outside that range the result is wrong."""
    t = key.table
    n, m, b = t.bits, len(t.points), key.party
    jb = _index_bits(m)
    x = np.ascontiguousarray(x, dtype=np.uint64).reshape(-1)
    e = x.shape[0]
    if e != key.r_in.shape[0]:
        raise ConfigurationError(f"The key is for {key.r_in.shape[0]} elements; the input has {e}.")
    mask = np.uint64((1 << n) - 1)
    with np.errstate(over="ignore"):
        masked = (x + key.r_in + (np.uint64(1 << (n - 1)) if b == 0 else np.uint64(0))) & mask
        wire = masked.astype(np.uint32) if n <= 32 else masked
        got = comm.exchange([wire])                                              # round 1: x^ (4 bytes)
        xh = (got[0][0].astype(np.uint64) + got[1][0].astype(np.uint64)) & mask
    bits = key.dcf.eval(np.repeat(xh, m + 1), threads).reshape(e, m + 1)
    index = key.offset.copy()
    index[:, jb] ^= bits[:, m]
    if m:
        index[:, :jb] ^= (((bits[:, :m] ^ bits[:, m:]).astype(np.int32) @ _flips(m)) & 1).astype(np.uint8)
    got = comm.exchange([np.packbits(index)])                                   # round 2: K masked bits
    opened = np.unpackbits(got[0][0] ^ got[1][0])[: e * (jb + 1)].reshape(e, jb + 1)
    u = (opened.astype(np.int64) << np.arange(jb + 1)[None, :]).sum(axis=1)     # J ^ rho
    size = 1 << (jb + 1)
    slopes = np.zeros(size // 2, dtype=np.int64)
    consts = np.zeros(size // 2, dtype=np.int64)
    slopes[:m + 1], consts[:m + 1] = t.slopes, t.consts
    with np.errstate(over="ignore"):
        p = ((slopes[None, :] * xh.astype(np.int64)[:, None]) >> t.guard) + consts[None, :]   # (E, size / 2)
        wrap = (slopes << (n - t.guard)).view(np.uint64)
    return _pick(key.onehot, key.dtab, u, p.view(np.uint64), wrap).reshape(key.shape)


# ---------------------------------------------------------------------- the masked spline, n parties
@dataclass(frozen=True)
class RingSpline:
    """A spline over the whole ring for the n-party masked gate (``secured.mpc._nonlinear.spline``):
    inputs in offset binary xu = x + 2^63 (every ring value), breakpoints likewise; piece j is
    floor(slopes[j] xu / 2^guard) + consts[j] (mod 2^64), so consts carry - slope 2^(63-guard)."""
    name: str
    frac: int
    guard: int
    points: np.ndarray       # (m,) uint64, sorted
    slopes: np.ndarray       # (m+1,) int64, |slope| < 2^31
    consts: np.ndarray       # (m+1,) uint64


_RING_SPLINES: dict[tuple[str, int], RingSpline] = {}
RING_GUARD = 20


def ring_spline(kind: str, frac: int) -> RingSpline:
    """The ring table of ``kind`` (``breakpoints_of(kind)`` breakpoints) at ``frac`` fractional bits."""
    key = (kind, int(frac))
    if key not in _RING_SPLINES:
        spline = named_spline(kind, breakpoints_of(kind))            # fitted under the lock
        if not 1 <= frac <= 40:
            raise ConfigurationError("A ring spline needs 1 to 40 fractional bits.")
        slopes = np.round(spline.slopes * 2.0 ** RING_GUARD).astype(np.int64)
        if int(np.abs(slopes).max()) >= 1 << 31:
            raise ConfigurationError("The spline's slopes are too steep for the ring table.")
        with np.errstate(over="ignore"):
            points = np.round(spline.breaks * 2.0 ** frac).astype(np.int64).view(np.uint64) + np.uint64(1 << 63)
            consts = np.round(spline.intercepts * 2.0 ** frac).astype(np.int64).view(np.uint64) - \
                (slopes.view(np.uint64) << np.uint64(63 - RING_GUARD))
        _RING_SPLINES[key] = RingSpline(kind, int(frac), RING_GUARD, points, slopes, consts)
    return _RING_SPLINES[key]


def mul_floor(slopes: np.ndarray, v: np.ndarray, guard: int) -> np.ndarray:
    """(E, k) uint64: floor(slopes[j] * v[e] / 2^guard) mod 2^64, exactly, for int64 slopes with
    |slope| < 2^31 and uint64 v (the 96-bit product split at bit 32; guard <= 32)."""
    v = np.asarray(v, dtype=np.uint64).reshape(-1)
    with np.errstate(over="ignore"):
        high = (slopes.view(np.uint64)[None, :] * (v >> np.uint64(32))[:, None]) << np.uint64(32 - guard)
        low = (slopes[None, :] * (v & np.uint64(0xFFFFFFFF)).astype(np.int64)[:, None]) >> guard
        return high + low.view(np.uint64)


def ring_spline_material(r: np.ndarray, rho: np.ndarray, kind: str, frac: int) -> tuple[np.ndarray, np.ndarray]:
    """What the dealer derives for the masked spline's pick from the shared mask r (E,) and the
    shared random words rho (E,), whose low K bits mask the piece index: the unit vector at the
    index mask and the table D_(u ^ mask), D_j = floor(slope_j r / 2^guard). (The comparisons
    need r's bytes' thermometer codes, ``_protocols.byte_thermometers``.)"""
    t = ring_spline(kind, frac)
    m = len(t.points)
    size = 1 << (_index_bits(m) + 1)
    r = np.asarray(r, dtype=np.uint64).reshape(-1)
    index_mask = (np.asarray(rho, dtype=np.uint64).reshape(-1) & np.uint64(size - 1)).astype(np.int64)
    d = np.zeros((r.shape[0], size // 2), dtype=np.uint64)
    d[:, :m + 1] = mul_floor(t.slopes, r, t.guard)
    return _unit_tables(index_mask, d)


SPLINE_KINDS = ("sigmoid", "tanh", "reciprocal", "rsqrt")
_TABLE_NAMES = ("sigmoid", "tanh", "truncate", "exp", "reciprocal", "rsqrt")


def breakpoints_of(kind: str) -> int:
    """A gate's breakpoints: ``TABLE_BREAKPOINTS`` for reciprocal and rsqrt (fitted for the
    error relative to the function over ``TABLE_RANGE``), else ``FSS_SPLINE_BREAKPOINTS``."""
    return TABLE_BREAKPOINTS if kind in ("reciprocal", "rsqrt") else FSS_SPLINE_BREAKPOINTS


_SPLINE_DOMAIN = 14      # integer bits of a spline gate's input domain: |x| < 2^13


def spline_table(kind: str, frac: int) -> FixedSpline:
    """The fixed-point table of a session's ``kind`` gate at ``frac`` fractional bits: inputs
    with |x| < 2^13 (the same table on the dealer and the parties), ``breakpoints_of(kind)``
    breakpoints (the gate's index then fits one byte)."""
    return FixedSpline.of(named_spline(kind, breakpoints_of(kind)), frac + _SPLINE_DOMAIN, frac)


def key_arrays(key: Any) -> list[np.ndarray]:
    """A key as arrays for the dealer's direct links, seed-compressed: a metadata array, the
    party's key seed, the DCF corrections, and only party 0's shares (party 1's tree seeds and
    shares, like party 0's tree seeds, expand from the key seed: ``key_from_arrays``)."""
    ctl = np.packbits(np.unpackbits(key.dcf.ctl[..., None], axis=-1, bitorder="little")[..., :3],
                      axis=None, bitorder="little")                     # 3 bits a level
    dcf = [key.dcf.scw, ctl, key.dcf.fin]
    seed = np.frombuffer(key.seed, dtype=np.uint8)
    if isinstance(key, SignKey):
        meta = np.array([0, key.party, key.bits, key.dcf.n, *key.shape], dtype=np.int64)
        shares = [key.r_in, np.packbits(key.r_top), np.packbits(key.m_bit), key.m_add, key.m_r] \
            if key.party == 0 else []
        return [meta, seed, *dcf, *shares]
    t = key.table
    meta = np.array([1, key.party, t.bits, t.frac, t.guard, _TABLE_NAMES.index(t.name), *key.shape], dtype=np.int64)
    r_in = key.r_in.astype(np.uint32) if t.bits <= 32 else key.r_in
    shares = [r_in, np.packbits(key.offset), key.onehot, key.dtab] if key.party == 0 else []
    return [meta, seed, *dcf, t.points, t.slopes, t.consts, *shares]


def key_from_arrays(arrays: list[np.ndarray]) -> Any:
    """The inverse of ``key_arrays``: the tree seeds (and party 1's shares) expanded from the
    key seed."""
    meta = [int(v) for v in arrays[0]]
    seed = bytes(np.asarray(arrays[1], dtype=np.uint8))
    if len(seed) != KEY_SEED_BYTES:
        raise ConfigurationError("A key's seed must be 32 bytes.")
    party, (scw, ctl, fin) = meta[1], arrays[2:5]
    levels = np.unpackbits(np.asarray(ctl, dtype=np.uint8), bitorder="little")[:3 * scw.shape[0] * scw.shape[1]]
    ctl = np.packbits(levels.reshape(scw.shape[0], scw.shape[1], 3), axis=-1, bitorder="little").reshape(scw.shape[:2])
    dcf_parts = (scw, ctl, fin)
    if meta[0] == 0:
        bits, n, shape = meta[2], meta[3], tuple(meta[4:])
        m = int(np.prod(shape))
        if party == 0:
            r_in, r_top, m_bit, m_add, m_r = arrays[5:10]
            shares = (r_in, np.unpackbits(r_top)[:m], np.unpackbits(m_bit)[:m], m_add, m_r)
        else:
            shares = _sign_shares(seed, m)
        return SignKey(party, bits, shape, DCFKey(party, n, _roots(seed, m), *dcf_parts), *shares, seed=seed)
    bits, frac, guard, name, shape = meta[2], meta[3], meta[4], _TABLE_NAMES[meta[5]], tuple(meta[6:])
    table = FixedSpline(name, bits, frac, guard, *arrays[5:8])
    e, m = int(np.prod(shape)), len(table.points)
    width = _index_bits(m) + 1
    if party == 0:
        r_in, offset, onehot, dtab = arrays[8:12]
        shares = (np.asarray(r_in, dtype=np.uint64), np.unpackbits(offset)[:e * width].reshape(e, width), onehot, dtab)
    else:
        shares = _spline_shares(seed, e, bits, width - 1)
    return SplineKey(party, shape, table, DCFKey(party, bits, _roots(seed, e * (m + 1)), *dcf_parts), *shares,
                     seed=seed)


def truncation_table(shift: int, bits: int = 48) -> FixedSpline:
    """Truncation by a public ``shift`` as a one-piece spline (slope 2^-shift, no breakpoint)
    on inputs with |x| < 2^(bits - 1): the spline gate then computes floor(x^ / 2^shift) -
    floor(r / 2^shift) + 2^(bits - shift) w, x / 2^shift with less than one unit of slack and
    no probabilistic failure (the local 2-party truncation fails with probability ~|x| / 2^63)."""
    if isinstance(shift, bool) or not isinstance(shift, int) or not 1 <= shift <= 20 or shift >= bits - 2:
        raise ConfigurationError("shift must be an int from 1 to 20, below bits - 2.")
    return FixedSpline.of(Spline("truncate", np.zeros(0), np.array([2.0 ** -shift]), np.array([0.0])), bits, 0)


def truncate_keygen(shape: tuple[int, ...], shift: int, *, bits: int = 48,
                    dealer_key: Optional[bytes] = None) -> tuple[SplineKey, SplineKey]:
    """Keys of the FSS truncation gate (``truncation_table``)."""
    return spline_keygen(truncation_table(shift, bits), shape, dealer_key=dealer_key)


def truncate(comm: Any, x: np.ndarray, key: SplineKey, threads: Optional[int] = None) -> np.ndarray:
    """Additive shares of x / 2^shift (within one unit, always): 2 rounds, 8.125 bytes per
    element per party (the masked input, then the mask's wrap bit)."""
    return spline(comm, x, key, threads)
