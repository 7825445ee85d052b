"""The FSS spline gate (sigmoid, tanh): equal to its fixed-point spline within one unit in the
last place on random and edge inputs over its whole domain and exhaustively on a small ring,
within the documented distance of the true functions, 2 rounds and 5 bytes per element from
the communicator's counters, a party's key material balanced whatever the table, inside
sessions on threads and on Ray (the key travelling over the dealer's direct link)."""

from __future__ import annotations

import numpy as np
import pytest

from secured.exceptions import ConfigurationError
from secured.mpc import Session, fss

from .test_fss import _run


def _gate(table, x):
    keys = fss.spline_keygen(table, x.shape)
    (o0, o1), stats = _run(fss.spline, x, keys)
    with np.errstate(over="ignore"):
        return (o0 + o1).view(np.int64).astype(np.float64), stats, keys


@pytest.mark.parametrize("kind, m", [("sigmoid", 100_000), ("tanh", 50_000)])
def test_the_gate_equals_its_fixed_point_spline(kind, m):
    """Keys are ~45 KB per element (96 comparisons): the inputs go through in gates of 25,000."""
    table = fss.spline_table(kind, 16)
    rng = np.random.default_rng(5)
    half = 1 << (table.bits - 1)
    x = np.where(rng.random(m) < 0.5, rng.integers(-half, half, m), rng.integers(-12 << 16, 12 << 16, m))
    points = table.points - half
    edges = np.concatenate([points - 1, points, points + 1, [-half, half - 1, 0, -1, 1]])
    x[:edges.size] = edges
    step = 25_000
    for start in range(0, m, step):
        piece = x[start:start + step]
        got, stats, keys = _gate(table, piece)
        err = got - table.reference(piece)
        assert np.abs(err).max() < 1.0                                 # floor of two products: < 1 unit
        assert [s.rounds for s in stats] == [2, 2]
        assert stats[0].bytes_sent == 4 * piece.size + piece.size     # x^, then 8 index bits: 5 bytes
        with np.errstate(over="ignore"):
            true = 1 / (1 + np.exp(-piece / 2**16)) if kind == "sigmoid" else np.tanh(piece / 2**16)
        # the fit (4.0e-5 sigmoid, 8.0e-5 tanh) + the gate (< 1 unit) + the intercepts' rounding
        # (half a unit) + the slopes' (2^-21 |x|, |x| <= 10 where the slope is not 0)
        bound = (4.0e-5 if kind == "sigmoid" else 8.0e-5) + 1.5 * 2**-16 + 2**-21 * 10
        assert np.abs(got / 2**16 - true).max() < bound < 9.6e-5 * (1 if kind == "sigmoid" else 2)


def test_exhaustive_on_a_small_ring():
    table = fss.FixedSpline.of(fss.named_spline("sigmoid"), 12, 5)
    x = np.arange(-(1 << 11), 1 << 11, dtype=np.int64)
    got, _, _ = _gate(table, x)
    assert np.abs(got - table.reference(x)).max() < 1.0


def test_a_party_key_alone_looks_the_same_for_any_table():
    """The values a party receives besides the DCF keys (tested in test_fss) -- its share of the
    input mask, its share of the index mask and its additive shares of the two tables -- have
    balanced bits, and the same frequencies for two different functions."""
    from scipy.stats import norm

    m = 4000
    freq = {}
    kinds = ("sigmoid", "tanh", "reciprocal")          # 96, 96 and 128 pieces: the same tables' size
    for kind in kinds:
        for key in fss.spline_keygen(fss.spline_table(kind, 16), (m,)):
            words = np.concatenate([key.onehot, key.dtab], axis=1)
            bits = np.unpackbits(words.view(np.uint8), axis=1).mean(axis=0)
            low = np.unpackbits((key.r_in & np.uint64((1 << 26) - 1)).view(np.uint8).reshape(m, 8),
                                axis=1, bitorder="little")[:, :26].mean(axis=0)
            freq[kind, key.party] = np.concatenate([bits, low, key.offset.mean(axis=0)])
    limit = norm.isf(1e-3 / (2 * freq["sigmoid", 0].size * 6)) * np.sqrt(0.25 / m)
    for party in (0, 1):
        for kind in kinds:
            assert np.abs(freq[kind, party] - 0.5).max() < limit, (kind, party)
        for kind in kinds[1:]:
            assert np.abs(freq["sigmoid", party] - freq[kind, party]).max() < limit * np.sqrt(2), (kind, party)


def test_fit_and_bad_arguments():
    spline = fss.named_spline("sigmoid")
    assert len(spline.breaks) == 46 and np.all(np.diff(spline.breaks) > 0)
    xs = np.linspace(-50, 50, 100_001)
    assert np.abs(spline(xs) - 1 / (1 + np.exp(-xs))).max() < 1.7e-4
    finer = fss.fit_spline(lambda v: 1 / (1 + np.exp(-v)), 70, left=0.0, right=1.0)
    assert np.abs(finer(xs) - 1 / (1 + np.exp(-xs))).max() < 8e-5        # more breakpoints, smaller error
    with pytest.raises(ConfigurationError, match="breakpoints"):
        fss.fit_spline(np.tanh, 1, left=-1.0, right=1.0)
    with pytest.raises(ConfigurationError, match="No spline named"):
        fss.named_spline("softplus")
    with pytest.raises(ConfigurationError, match="0 < lo < hi"):
        fss.fit_bounded(lambda v: 1 / v, 10, lo=0.0, hi=1.0)
    with pytest.raises(ConfigurationError, match="breakpoints"):
        fss.fit_bounded(lambda v: 1 / v, 300, lo=1.0, hi=2.0)
    coarse = fss.fit_bounded(lambda v: 1 / v, 12, lo=1.0, hi=8.0)           # relative error, saturated outside
    grid = np.geomspace(1.0, 8.0, 10_001)
    assert np.abs(coarse(grid) * grid - 1).max() < 0.01 and coarse(np.array([0.5, 20.0])).tolist() == [1.0, 0.125]
    with pytest.raises(ConfigurationError, match="domain"):
        fss.FixedSpline.of(spline, 12, 11)
    with pytest.raises(ConfigurationError, match="outside the input domain"):
        fss.FixedSpline.of(spline, 12, 8)


@pytest.mark.parametrize("parties", [2, 3])
def test_sessions_pick_the_spline_gate_for_two_parties(parties):
    x = np.concatenate([np.linspace(-20, 20, 2001), [0.0, 400.0, -400.0]])      # one chunk
    with Session(parties, protocol="fss") as s:
        t = s.share(x)
        s.reset_stats()
        sig, th = t.sigmoid().reveal(), t.tanh().reveal()
        stats = s.stats()["parties"][0]
    bound = 7e-5 if parties == 2 else 4.5e-4                   # the classic 3-party sigmoid: 3.5e-4 (README)
    assert np.abs(sig - 1 / (1 + np.exp(-x))).max() < bound and np.abs(th - np.tanh(x)).max() < 2 * bound
    fss_used = stats["protocols"]["sigmoid"]["fss"] == 1 and stats["protocols"]["tanh"]["fss"] == 1
    assert fss_used == (parties == 2)
    assert stats["by_op"]["sigmoid"][1] == (2 if parties == 2 else 34)     # the classic one at 3 parties: 34


def test_ray_session_runs_the_spline_gate(ray_runtime):
    from secured.cluster import RaySession

    x = np.linspace(-10, 10, 501)
    s = RaySession(2, protocol="fss")
    try:
        y = s.share(x).sigmoid().reveal()
        stats = s.stats()
    finally:
        s.close()
    assert np.abs(y - 1 / (1 + np.exp(-x))).max() < 7e-5
    assert stats["parties"][1]["protocols"]["sigmoid"]["fss"] == 1 and stats["parties"][1]["by_op"]["sigmoid"][1] == 2


def _ring_table_value(table, x):
    """The ring table's exact value at ring inputs x (int64), in units: floor(slope_j xu / 2^20)
    + c_j for the piece j of xu = x + 2^63, recomputed with Python integers."""
    half = 1 << 63
    points = [int(p) for p in table.points]
    out = []
    for v in x.tolist():
        xu = v + half
        j = sum(1 for p in points if xu >= p)
        value = (int(table.slopes[j]) * xu >> table.guard) + int(table.consts[j])
        value %= 1 << 64
        out.append(value - (1 << 64) if value >= half else value)
    return np.array(out, dtype=np.float64)


def _run_ring_spline(parties, x, table):
    """The masked spline on ``parties`` threaded parties holding additive shares of the ring
    values x (int64), with a real dealer; the opened result (int64 units) and the stats."""
    from secured.mpc import _nonlinear as N

    from ._parties import on_threads

    out, stats = on_threads(parties, x, lambda ctx, share: N.spline(ctx, share, table))
    with np.errstate(over="ignore"):
        total = np.sum(out, axis=0, dtype=np.uint64)
    return total.view(np.int64).astype(np.float64), stats


@pytest.mark.parametrize("parties", [2, 3, 4])
def test_the_masked_spline_on_the_whole_ring(parties):
    """The n-party masked spline against its table recomputed with Python integers, on random
    inputs over the whole ring, every breakpoint +-1 and the ring's ends: within one unit; 5
    rounds at any number of parties, 273 bytes per element to each peer."""
    table = fss.ring_spline("sigmoid", 16)
    rng = np.random.default_rng(parties)
    points = (table.points - np.uint64(1 << 63)).view(np.int64)
    x = np.concatenate([points - 1, points, points + 1, [-(1 << 63), (1 << 63) - 1, 0, -1, 1],
                        rng.integers(-(1 << 63), (1 << 63) - 1, 700, endpoint=True),
                        rng.integers(-(12 << 16), 12 << 16, 1000)]).astype(np.int64)
    got, stats = _run_ring_spline(parties, x, table)
    assert np.abs(got - _ring_table_value(table, x)).max() <= 1.0
    inside = (x > -(50 << 16)) & (x < (50 << 16))          # (np.abs(-2^63) is negative)
    true = 1 / (1 + np.exp(-x[inside] / 2**16))
    assert np.abs(got[inside] / 2**16 - true).max() < 4.0e-5 + 1.5 * 2**-16 + 2**-21 * 10
    assert np.all(np.abs(got[x >= (11 << 16)] - 2**16) <= 1) and np.all(np.abs(got[x <= -(11 << 16)]) <= 1)
    assert {st.rounds for st in stats} == {5}
    assert stats[0].bytes_sent == _spline_bytes(x.size) * (parties - 1)


def _spline_bytes(e):
    """Bytes the masked spline sends each peer for e elements: x^ (8 B), the comparison tree's
    22 opened bits for each of the 96 comparisons (words of 64), the masked index (1 B)."""
    return 9 * e + 22 * 8 * -(-96 * e // 64)


@pytest.mark.parametrize("parties, rounds", [(2, 5), (3, 5)])
def test_the_classic_spline_on_a_slow_link(parties, rounds):
    """With rounds that cost something, small sigmoid / tanh tensors take the masked spline
    (any x, the whole ring): within its table's rounding of the true function, in 5 rounds at 2
    or 3 parties instead of the exp-based sigmoid's 19 or 34."""
    from secured.mpc import Network
    from secured.mpc.costs import CostModel

    rng = np.random.default_rng(parties)
    x = np.concatenate([rng.normal(0, 6, 100), np.linspace(-12, 12, 97), [0.0, 3e4, -3e4, 1e9, -1e9]])
    with Session(parties, link=Network(0.0005, 1e9)) as s:
        t = s.share(x)
        s.reset_stats()
        sig, th = t.sigmoid().reveal(), t.tanh().reveal()
        stats = s.stats()["parties"][0]
    for got, kind in ((sig, "sigmoid"), (th, "tanh")):
        assert stats["protocols"][kind] == {"fss": 0, "classic": 1, "spline": 1}
        assert stats["by_op"][kind][1] == rounds
        assert stats["by_op"][kind][0] == _spline_bytes(x.size) * (parties - 1)
    # the fit (4.0e-5 sigmoid, 8.0e-5 tanh), the gate (< 1 unit), the intercepts' rounding (half a
    # unit) and the slopes' (2^-21 times |x| <= 10.2 where the slope is not 0)
    slack = 1.5 * 2**-16 + 2**-21 * 10.2
    with np.errstate(over="ignore"):
        assert np.abs(sig - 1 / (1 + np.exp(-x))).max() < 4.0e-5 + slack
    assert np.abs(th - np.tanh(x)).max() < 8.0e-5 + slack
    lan, free = CostModel(Network(0.0005, 1e9)), CostModel(Network())
    assert lan.classic_variant(64, parties) == "spline" and lan.classic_variant(2**20, parties) == "exp"
    assert free.classic_variant(64, parties) == "exp"
    assert lan.choose("sigmoid", 64, 2) == "classic" and lan.choose("sigmoid", 64, 2, "fss") == "fss"


@pytest.mark.parametrize("shift, bits", [(16, 48), (20, 56), (8, 24)])
def test_truncation_gate_never_fails(shift, bits):
    """Truncation by a public shift on 10^6 inputs over the whole documented domain (|x| <
    2^(bits-1), its ends included): within one unit of x / 2^shift, in 2 rounds and 8.125 bytes
    per element (the local 2-party truncation is off by ~2^(64-shift) with probability ~|x|/2^63;
    here the largest inputs are exactly where it would fail most)."""
    rng = np.random.default_rng(shift)
    m = 1_000_000 if bits == 48 else 100_000
    half = 1 << (bits - 1)
    x = rng.integers(-half, half, m)
    x[:6] = [-half, half - 1, 0, -1, 1, -(1 << shift)]
    keys = fss.truncate_keygen((m,), shift, bits=bits)
    (o0, o1), stats = _run(fss.truncate, x, keys)
    with np.errstate(over="ignore"):
        got = (o0 + o1).view(np.int64)
    exact = x / 2.0 ** shift
    assert np.abs(got - exact).max() < 1.0
    assert [s.rounds for s in stats] == [2, 2]
    assert stats[0].bytes_sent == (4 if bits <= 32 else 8) * m + (m + 7) // 8      # x^, then one bit
    with pytest.raises(ConfigurationError, match="shift"):
        fss.truncation_table(0)
    with pytest.raises(ConfigurationError, match="too steep"):
        fss.truncation_table(1, 48)


def test_large_tensors_go_in_chunks(monkeypatch):
    """A tensor larger than the chunk runs as several gates (2 rounds each), the keys of one
    chunk at a time; the result is the same function."""
    from secured.mpc import _party

    monkeypatch.setattr(_party, "SPLINE_CHUNK", 1000)
    x = np.linspace(-15, 15, 2500).reshape(50, 50)
    with Session(2, protocol="fss") as s:
        t = s.share(x)
        s.reset_stats()
        y = t.sigmoid().reveal()
        party = s.stats()["parties"][0]
    assert y.shape == (50, 50) and np.abs(y - 1 / (1 + np.exp(-x))).max() < 7e-5
    assert party["by_op"]["sigmoid"][1] == 6                        # 3 chunks x 2 rounds


def test_the_shipped_spline_tables_equal_a_fresh_fit():
    """The package ships the fitted sigmoid / tanh tables (every party would otherwise fit them
    at its first sigmoid); a fresh fit must give exactly the same integers on the 2^-32 grid
    (regenerate with ``secured.mpc.fss.write_spline_tables()`` after changing the fit)."""
    for name, m in fss.SHIPPED_SPLINES:
        shipped, fresh = fss._shipped(name, m), fss._fit_named(name, m)
        assert shipped is not None, (name, m)
        for part in ("breaks", "slopes", "intercepts"):
            np.testing.assert_array_equal(getattr(shipped, part), getattr(fresh, part), err_msg=f"{name}:{m} {part}")
        assert fss.named_spline(name, m).breaks.size == m


def test_the_exp_table_and_softmax_with_it():
    """exp(min(x, 0)) as a masked spline (softmax's exp: its inputs are <= 0): within one unit
    of its table recomputed with Python integers on the whole ring, within 3e-5 of the
    function; a softmax that takes it (when the cost model prefers it, or asked to) is within
    2e-4 of numpy's and has 9 rounds fewer at 2 parties, 18 at 3."""
    table = fss.ring_spline("exp", 16)
    rng = np.random.default_rng(5)
    points = (table.points - np.uint64(1 << 63)).view(np.int64)
    x = np.concatenate([points - 1, points, points + 1, [-(1 << 63), (1 << 63) - 1, 0, -1, 1],
                        rng.integers(-(1 << 63), (1 << 63) - 1, 300, endpoint=True),
                        rng.integers(-(20 << 16), 2 << 16, 600)]).astype(np.int64)
    got, _ = _run_ring_spline(3, x, table)
    assert np.abs(got - _ring_table_value(table, x)).max() <= 1.0
    inside = (x > -(60 << 16)) & (x < (60 << 16))
    true = np.exp(np.minimum(x[inside] / 2**16, 0.0))
    assert np.abs(got[inside] / 2**16 - true).max() < 3.0e-5 + 1.5 * 2**-16 + 2**-21 * 10.5
    logits = rng.normal(scale=3, size=(64, 8))
    logits[0], logits[1] = [-50, 0, 3, 2, 1, -1, -2, 40], 7.0
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    reference = e / e.sum(axis=1, keepdims=True)
    for parties, fewer in ((2, 9), (3, 18)):
        rounds = {}
        for variant in ("exp", "spline"):
            with Session(parties) as s:
                s.costs.sigmoid = variant
                t = s.share(logits)
                s.reset_stats()
                got = t.softmax(axis=1).reveal()
                stats = s.stats()["parties"][0]
            assert np.abs(got - reference).max() < 2e-4, (parties, variant)
            rounds[variant] = stats["by_op"]["softmax"][1]
            assert ("exp (softmax)" in stats["protocols"]) == (variant == "spline")
        assert rounds["exp"] - rounds["spline"] == fewer


# ---------------------------------------------------------------------- reciprocal and rsqrt tables
_TABLE_FUNCTIONS = {"reciprocal": (lambda v: 1.0 / v, 3.9e-4), "rsqrt": (lambda v: 1.0 / np.sqrt(v), 1.5e-4)}


def _table_bound(kind, v):
    """The documented error of a table at v (reals in [1/16, 64]): the fit's relative error, the
    gate's floor (< 1 unit), the intercepts' rounding (half a unit), the slopes' (2^-21 v)."""
    fn, rel = _TABLE_FUNCTIONS[kind]
    return rel * fn(v) + 1.5 * 2**-16 + 2**-21 * v


@pytest.mark.parametrize("kind", ["reciprocal", "rsqrt"])
def test_the_reciprocal_and_rsqrt_gates_equal_their_tables(kind):
    """The FSS gates of the 128-piece tables equal their fixed-point tables within one unit on
    random inputs over the whole gate domain (|x| < 2^13), every breakpoint +-1 and the domain's
    ends; within the documented distance of 1/x and 1/sqrt(x) on [1/16, 64] (fitted for the
    error relative to the function), saturated outside; 2 rounds and 5 bytes per element."""
    table = fss.spline_table(kind, 16)
    assert len(table.points) == 127
    rng = np.random.default_rng(11)
    half = 1 << (table.bits - 1)
    points = table.points - half
    x = np.concatenate([points - 1, points, points + 1, [-half, half - 1, 0, -1, 1],
                        rng.integers(-half, half, 6000),
                        np.round(np.exp(rng.uniform(np.log(1 / 16), np.log(64), 12000)) * 2**16).astype(np.int64)])
    for start in range(0, x.size, 10_000):
        piece = x[start:start + 10_000]
        got, stats, _ = _gate(table, piece)
        assert np.abs(got - table.reference(piece)).max() < 1.0
        assert [s.rounds for s in stats] == [2, 2] and stats[0].bytes_sent == 5 * piece.size
        v = piece / 2**16
        inside = (v >= 1 / 16) & (v <= 64)
        fn, _ = _TABLE_FUNCTIONS[kind]
        assert np.all(np.abs(got[inside] / 2**16 - fn(v[inside])) <= _table_bound(kind, v[inside]))
        assert np.all(np.abs(got[v < 1 / 16] / 2**16 - fn(1 / 16)) < 2**-15)      # saturated below
        assert np.all(np.abs(got[v > 64] / 2**16 - fn(64.0)) < 2**-15)            # and above


@pytest.mark.parametrize("kind, parties", [("reciprocal", 2), ("rsqrt", 3)])
def test_the_masked_reciprocal_and_rsqrt_tables_on_the_whole_ring(kind, parties):
    """The n-party masked spline of the tables against the table recomputed with Python
    integers, on the whole ring (every breakpoint +-1, the ring's ends, random words) and on the
    documented range; 5 rounds, 9 + 22 * 128 / 8 bytes per element to each peer."""
    table = fss.ring_spline(kind, 16)
    rng = np.random.default_rng(parties)
    points = (table.points - np.uint64(1 << 63)).view(np.int64)
    x = np.concatenate([points - 1, points, points + 1, [-(1 << 63), (1 << 63) - 1, 0, -1, 1],
                        rng.integers(-(1 << 63), (1 << 63) - 1, 400, endpoint=True),
                        np.round(np.exp(rng.uniform(np.log(1 / 16), np.log(64), 800)) * 2**16).astype(np.int64)])
    got, stats = _run_ring_spline(parties, x, table)
    assert np.abs(got - _ring_table_value(table, x)).max() <= 1.0
    v = x / 2**16
    inside = (v >= 1 / 16) & (v <= 64)
    fn, _ = _TABLE_FUNCTIONS[kind]
    assert np.all(np.abs(got[inside] / 2**16 - fn(v[inside])) <= _table_bound(kind, v[inside]))
    assert {st.rounds for st in stats} == {5}
    assert stats[0].bytes_sent == (9 * x.size + 22 * 8 * -(-128 * x.size // 64)) * (parties - 1)


def test_reciprocal_and_rsqrt_by_table_in_a_session():
    """``method='table'``: the FSS gate with protocol='fss' at 2 parties, the masked spline
    otherwise (never the gate under 'auto': it is exact on |x| < 2^13 only); the same values
    within the documented bound; the Newton methods unchanged; a bad method is refused."""
    x = np.concatenate([np.geomspace(1 / 16, 64, 700), [0.01, 100.0]])
    seen = {}
    for parties, protocol in ((2, "fss"), (2, "auto"), (3, "fss")):
        with Session(parties, protocol=protocol) as s:
            t = s.share(x)
            s.reset_stats()
            got = {kind: getattr(t, kind)(method="table").reveal() for kind in _TABLE_FUNCTIONS}
            party = s.stats()["parties"][0]
            newton = t.reciprocal().reveal()
            with pytest.raises(ConfigurationError, match="method"):
                t.rsqrt(method="lookup")
        gate = parties == 2 and protocol == "fss"
        for kind, values in got.items():
            fn, _ = _TABLE_FUNCTIONS[kind]
            v = np.clip(np.round(x * 2**16) / 2**16, 1 / 16, 64)          # the shared (encoded) input
            assert np.all(np.abs(values - fn(v)) <= _table_bound(kind, v)), (parties, protocol, kind)
            assert party["protocols"][kind]["fss"] == int(gate)
            assert party["by_op"][f"{kind}_table"][1] == (2 if gate else 5)
            seen[parties, protocol, kind] = values
        assert np.all(np.abs(newton[:700] - 1 / x[:700]) < 2e-4 / x[:700] + 3e-5)      # the default: Newton
    for kind in _TABLE_FUNCTIONS:        # the two protocols compute the same table
        assert np.abs(seen[2, "fss", kind] - seen[3, "fss", kind]).max() <= 2 * 2**-16
