"""Function-secret-sharing gates: the DCF exhaustively on small domains (compiled kernels and
their numpy twin, which must also produce the same keys), sign / DReLU / ReLU on 10^6 random
and edge inputs against plaintext, the online cost (rounds, bytes) from the communicator's own
counters, the dealer key size, and the keys' independence from the function point (a party's
key alone looks the same whatever alpha is)."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from secured.backend import fss_kernels as F
from secured.exceptions import ConfigurationError
from secured.mpc import fss
from secured.mpc._comm import make_thread_communicators

IMPLS = [pytest.param(None, id="compiled" if F.compiled else "default"), pytest.param(F.reference, id="numpy")]


def _seeds(rng, m):
    s = rng.integers(0, 2**63, (2, m, 2), dtype=np.uint64) * np.uint64(2) + rng.integers(0, 2, (2, m, 2),
                                                                                         dtype=np.uint64)
    return s[0], s[1]


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("n", [1, 2, 3, 5, 7, 8, 9])
def test_dcf_is_exact_over_the_whole_small_domain(n, impl):
    rng = np.random.default_rng(n)
    size = 1 << n
    alpha = np.repeat(np.arange(size, dtype=np.uint64), size)          # every (alpha, x) pair
    x = np.tile(np.arange(size, dtype=np.uint64), size)
    s0, s1 = _seeds(rng, alpha.size)
    keys = F.dcf_gen(n, alpha, s0, s1, impl=impl)
    shares = F.dcf_eval(0, n, s0, *keys, x, impl=impl) ^ F.dcf_eval(1, n, s1, *keys, x, impl=impl)
    np.testing.assert_array_equal(shares, (x < alpha).astype(np.uint8))


@pytest.mark.parametrize("n", [3, 8, 12, 40, 63, 64])
def test_compiled_kernels_equal_the_numpy_twin(n):
    """Both compiled walks (16 elements on VAES where the CPU has it, 8 on AES-NI) against the
    numpy twin, with a count that is not a multiple of either group."""
    rng = np.random.default_rng(n)
    m = 4003
    top = 2**min(n, 63)
    alpha = rng.integers(0, top, m, dtype=np.uint64) * np.uint64(2 if n == 64 else 1)
    x = np.concatenate([alpha[:1000], alpha[1000:2000] - np.uint64(1), rng.integers(0, top, 2003, dtype=np.uint64)])
    if n < 64:
        x &= np.uint64(2**n - 1)
    s0, s1 = _seeds(rng, m)
    compiled = F.dcf_gen(n, alpha, s0, s1)
    twin = F.dcf_gen(n, alpha, s0, s1, impl=F.reference)
    for a, b in zip(compiled, twin):
        np.testing.assert_array_equal(a, b)
    for party, seeds in ((0, s0), (1, s1)):
        expected = F.dcf_eval(party, n, seeds, *twin, x, impl=F.reference)
        for wide in (True, False):
            np.testing.assert_array_equal(F.dcf_eval(party, n, seeds, *compiled, x, wide=wide), expected)
    both = F.dcf_eval(0, n, s0, *compiled, x) ^ F.dcf_eval(1, n, s1, *compiled, x)
    np.testing.assert_array_equal(both, (x < alpha).astype(np.uint8))


def _run(fn, x_signed, keys, network=None):
    """Run a gate on two threaded parties holding additive shares of x; (outputs, stats)."""
    comms = make_thread_communicators(2, 60.0, network=network)
    rng = np.random.default_rng(7)
    x = np.asarray(x_signed, dtype=np.int64).view(np.uint64)
    share0 = rng.integers(0, 2**63, x.shape, dtype=np.uint64) * np.uint64(2)
    with np.errstate(over="ignore"):
        shares = (share0, x - share0)
    out, errors = [None, None], []

    def party(b):
        try:
            out[b] = fn(comms[b], shares[b], keys[b])
        except BaseException as exc:  # noqa: BLE001 - surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=party, args=(b,)) for b in (0, 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    return out, [c.stats for c in comms]


def _inputs(rng, m, bits):
    lo, hi = -(2**(bits - 1)), 2**(bits - 1) - 1
    x = rng.integers(lo, hi, m, dtype=np.int64, endpoint=True)
    edges = np.array([0, -1, 1, lo, hi, lo + 1, hi - 1], dtype=np.int64)
    x[:edges.size] = edges
    return x


@pytest.mark.parametrize("bits", [64, 40])
def test_sign_drelu_and_relu_on_a_million_inputs(bits):
    rng = np.random.default_rng(bits)
    m = 1_000_000 if bits == 64 else 200_000
    x = _inputs(rng, m, bits)
    keys = fss.sign_keygen((m,), bits=bits)
    (s0, s1), stats = _run(fss.sign, x, keys)
    np.testing.assert_array_equal(s0 ^ s1, (x >= 0).astype(np.uint8))
    assert [st.rounds for st in stats] == [1, 1] and stats[0].bytes_sent == 8 * m
    keys = fss.sign_keygen((m,), bits=bits)
    (r0, r1), stats = _run(fss.relu, x, keys)
    with np.errstate(over="ignore"):
        np.testing.assert_array_equal((r0 + r1).view(np.int64), np.maximum(x, 0))
    assert [st.rounds for st in stats] == [2, 2]
    assert stats[0].bytes_sent == 8 * m + (m + 7) // 8                  # 8.125 bytes per element
    keys = fss.sign_keygen((m,), bits=bits)
    (d0, d1), _ = _run(fss.drelu, x, keys)
    with np.errstate(over="ignore"):
        np.testing.assert_array_equal(d0 + d1, (x >= 0).astype(np.uint64))


def test_dealer_key_size_and_fresh_randomness():
    k0, k1 = fss.sign_keygen((1000,))
    assert k0.key_bytes() <= 1000 and k1.key_bytes() < k0.key_bytes()
    again = fss.sign_keygen((1000,))
    assert not np.array_equal(again[0].dcf.seeds, k0.dcf.seeds)       # a fresh OS key every time
    fixed = [fss.sign_keygen((50,), dealer_key=bytes(range(32)))[0] for _ in range(2)]
    np.testing.assert_array_equal(fixed[0].dcf.scw, fixed[1].dcf.scw)   # the stream is the key's


@pytest.mark.parametrize("kind", ["sign", "spline"])
def test_keys_travel_seed_compressed(kind):
    """On the dealer's links a key is its 32-byte seed, the DCF corrections (control bits
    packed 3 a level) and, for party 0 only, its shares: both parties' tree seeds and party 1's
    shares expand from the seed. The key rebuilt from the wire equals the dealer's, the wire
    carries what ``key_bytes`` counts (ReLU: 959 and 933 bytes per element, under the 1,000
    of the acceptance; 16 fewer for each party, and 24.25 fewer for party 1, than sent
    whole), and party 1's shares are not on it."""
    m = 400
    if kind == "sign":
        keys, shares = fss.sign_keygen((m,)), ("r_in", "r_top", "m_bit", "m_add", "m_r")
    else:
        keys, shares = fss.spline_keygen(fss.spline_table("sigmoid", 16), (m,)), ("r_in", "offset", "onehot", "dtab")
    assert keys[0].seed != keys[1].seed and len(keys[0].seed) == fss.KEY_SEED_BYTES
    for key in keys:
        wire = fss.key_arrays(key)
        back = fss.key_from_arrays([np.array(a) for a in wire])
        for part in shares:
            np.testing.assert_array_equal(getattr(back, part), getattr(key, part), err_msg=part)
        for part in ("seeds", "scw", "ctl", "fin"):
            np.testing.assert_array_equal(getattr(back.dcf, part), getattr(key.dcf, part), err_msg=part)
        sent = sum(a.nbytes for a in wire[1:]) / m                  # after the metadata
        assert key.key_bytes() - 1 < sent <= key.key_bytes() + 1
        own = [getattr(key, part) for part in shares]
        on_wire = any(a.shape == o.shape and np.array_equal(a, o) for a in wire for o in own)
        assert on_wire == (key.party == 0)
    if kind == "sign":
        assert keys[0].key_bytes() <= 1000 and keys[1].key_bytes() <= 1000


def test_a_party_key_alone_does_not_depend_on_alpha():
    """Bit frequencies of party 0's (and party 1's) whole key -- seed, corrections, leaf block --
    for alpha = 0 and alpha = 2^n - 1 (the two extremes) and a random alpha: every bit position is
    balanced, and no position differs between the alphas beyond chance (Bonferroni over all)."""
    from scipy.stats import norm

    n, m = 16, 20_000
    rng = np.random.default_rng(3)
    tables = {}
    for label, alpha in (("zero", np.zeros(m, np.uint64)), ("max", np.full(m, 2**n - 1, np.uint64)),
                         ("random", rng.integers(0, 2**n, m, dtype=np.uint64))):
        pair = fss.dcf_keygen(alpha, n)
        for key in pair:
            blocks = np.concatenate([key.seeds[:, None, :], key.scw], axis=1)          # 128-bit seeds
            bits = np.unpackbits(blocks.view(np.uint8).reshape(m, -1, 16), axis=2, bitorder="little")
            bits = np.concatenate([bits[:, :, 2:].reshape(m, -1),                     # the two low bits are 0
                                   np.unpackbits(key.fin.view(np.uint8), axis=1)], axis=1)
            ctl = np.unpackbits(key.ctl[:, :, None], axis=2)[:, :, -3:].reshape(m, -1)
            tables[label, key.party] = np.concatenate([bits, ctl], axis=1).mean(axis=0)
    positions = tables["zero", 0].size
    limit = norm.isf(1e-3 / (2 * positions * 8)) * np.sqrt(0.25 / m)     # per-position bound, Bonferroni
    for party in (0, 1):
        for label in ("zero", "max", "random"):
            assert np.abs(tables[label, party] - 0.5).max() < limit, (label, party)
        for a, b in (("zero", "max"), ("zero", "random")):
            assert np.abs(tables[a, party] - tables[b, party]).max() < limit * np.sqrt(2), (a, b, party)


def test_bad_arguments_are_refused():
    with pytest.raises(ConfigurationError):
        fss.sign_keygen((3,), bits=1)
    with pytest.raises(ConfigurationError):
        F.dcf_gen(65, np.zeros(1, np.uint64), np.zeros((1, 2), np.uint64), np.zeros((1, 2), np.uint64))
    with pytest.raises(ConfigurationError):
        fss.dcf_keygen(np.array([300], np.uint64), 8)
    keys = fss.sign_keygen((4,))
    comms = make_thread_communicators(2, 1.0)
    with pytest.raises(ConfigurationError, match="4 elements"):
        fss.sign(comms[0], np.zeros(5, np.uint64), keys[0])
