"""The ChaCha20 PRG: RFC 8439 test vector, an independent pure-Python reference, equality
across backends, stream separation, and no non-cryptographic RNG in secret-handling code."""

from __future__ import annotations

import re
import struct
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from secured.backend import get_backend, new_key
from secured.exceptions import RingValueError

from ..conftest import ALL_BACKENDS

MASK32 = 0xFFFFFFFF


def _rotl(v: int, c: int) -> int:
    return ((v << c) & MASK32) | (v >> (32 - c))


def chacha20_block(key: bytes, block: int, nonce: bytes) -> bytes:
    """RFC 8439 section 2.3, written out in Python as an independent reference."""
    state = [0x61707865, 0x3320646E, 0x79622D32, 0x6B206574,
             *struct.unpack("<8I", key), block & MASK32, *struct.unpack("<3I", nonce)]
    x = list(state)

    def quarter(a, b, c, d):
        x[a] = (x[a] + x[b]) & MASK32; x[d] = _rotl(x[d] ^ x[a], 16)  # noqa: E702
        x[c] = (x[c] + x[d]) & MASK32; x[b] = _rotl(x[b] ^ x[c], 12)  # noqa: E702
        x[a] = (x[a] + x[b]) & MASK32; x[d] = _rotl(x[d] ^ x[a], 8)  # noqa: E702
        x[c] = (x[c] + x[d]) & MASK32; x[b] = _rotl(x[b] ^ x[c], 7)  # noqa: E702

    for _ in range(10):
        quarter(0, 4, 8, 12); quarter(1, 5, 9, 13); quarter(2, 6, 10, 14); quarter(3, 7, 11, 15)  # noqa: E702
        quarter(0, 5, 10, 15); quarter(1, 6, 11, 12); quarter(2, 7, 8, 13); quarter(3, 4, 9, 14)  # noqa: E702
    return struct.pack("<16I", *((x[i] + state[i]) & MASK32 for i in range(16)))


def reference_words(key: bytes, counter: int, n: int, offset: int) -> list[int]:
    nonce = counter.to_bytes(12, "little")
    first, skip = divmod(offset, 8)
    stream = b"".join(chacha20_block(key, first + i, nonce) for i in range(-(-(n + skip) // 8)))
    return list(struct.unpack(f"<{n + skip}Q", stream[: 8 * (n + skip)]))[skip:]


RFC_KEY = bytes(range(32))
RFC_NONCE = bytes.fromhex("000000090000004a00000000")
# RFC 8439 section 2.3.2: serialized block for block counter 1.
RFC_BLOCK = bytes.fromhex(
    "10f1e7e4d13b5915500fdd1fa32071c4c7d1f4c733c068030422aa9ac3d46c4e"
    "d2826446079faa0914c2d705d98b02a2b5129cd1de164eb9cbd083e8a2503c4e"
)


def test_reference_matches_rfc_vector():
    assert chacha20_block(RFC_KEY, 1, RFC_NONCE) == RFC_BLOCK


@pytest.mark.parametrize("name", ALL_BACKENDS)
def test_backend_matches_rfc_vector(name):
    be = get_backend(name=name)
    counter = int.from_bytes(RFC_NONCE, "little")
    words = be.to_numpy(be.prg(RFC_KEY, counter, 8, offset=8))  # block 1 = words 8..15
    assert words.astype("<u8").tobytes() == RFC_BLOCK


@pytest.mark.parametrize("name", ALL_BACKENDS)
@given(key=st.binary(min_size=32, max_size=32), counter=st.integers(0, 2**96 - 1),
       n=st.integers(0, 40), offset=st.integers(0, 100))
def test_backend_matches_python_reference(name, key, counter, n, offset):
    be = get_backend(name=name)
    got = be.to_numpy(be.prg(key, counter, n, offset=offset))
    assert [int(v) for v in got] == reference_words(key, counter, n, offset)


def test_backends_agree_on_large_streams():
    key = new_key()
    streams = [get_backend(name=n).to_numpy(get_backend(name=n).prg(key, 5, (3, 100_003)))
               for n in ALL_BACKENDS]
    for other in streams[1:]:
        np.testing.assert_array_equal(streams[0], other)


def test_offsets_continue_the_same_stream():
    be = get_backend()
    key = new_key()
    whole = be.prg(key, 9, 5000)
    for offset in (1, 7, 8, 9, 1234, 4999):
        np.testing.assert_array_equal(be.prg(key, 9, 5000 - offset, offset=offset), whole[offset:])


def test_keys_and_counters_separate_streams():
    be = get_backend()
    k1, k2 = new_key(), new_key()
    assert k1 != k2 and len(k1) == 32
    base = be.prg(k1, 0, 1000)
    for other in (be.prg(k2, 0, 1000), be.prg(k1, 1, 1000), be.prg(k1, 2**64, 1000)):
        # Two independent uniform streams agree in a word with probability 2^-64.
        assert not np.any(base == other)


def test_output_looks_uniform():
    words = get_backend().prg(new_key(), 0, 1 << 16)
    bits = np.unpackbits(words.view(np.uint8))
    assert abs(bits.mean() - 0.5) < 0.005  # ~ 12 standard deviations of a fair coin
    per_position = np.unpackbits(words.view(np.uint8).reshape(-1, 8), axis=0).mean(axis=0)
    assert np.all(np.abs(per_position - 0.5) < 0.02)


@pytest.mark.parametrize(
    "key, counter, n, offset, match",
    [(b"short", 0, 1, 0, "32 bytes"), ("x" * 32, 0, 1, 0, "32 bytes"),
     (bytes(32), -1, 1, 0, "counter"), (bytes(32), 2**96, 1, 0, "counter"),
     (bytes(32), 0, 1, -3, "offset"), (bytes(32), 0, 2**35, 1, "at most")],
)
def test_bad_prg_arguments(key, counter, n, offset, match):
    with pytest.raises(RingValueError, match=match):
        get_backend(name="numpy").prg(key, counter, n, offset=offset)


def test_no_noncryptographic_rng_in_secret_handling_code():
    """Shares, seeds and masks come from the ChaCha20 PRG or `secrets`, never from numpy's
    or torch's generators or the `random` module."""
    root = Path(__file__).resolve().parents[2] / "secured"
    banned = re.compile(r"np\.random|numpy\.random|torch\.Generator|torch\.rand|^\s*import random\b|from random import", re.M)
    secret_packages = ["backend", "_kernels", "mpc", "cluster", "federation"]
    offenders = []
    for package in secret_packages:
        for path in (root / package).rglob("*.py*") if (root / package).exists() else []:
            if path.suffix in {".py", ".pyx"} and banned.search(path.read_text()):
                offenders.append(str(path.relative_to(root)))
    assert offenders == []


def test_only_the_backend_imports_the_compiled_core():
    """DESIGN.md: secured._kernels is private; everything else reaches it through secured.backend."""
    root = Path(__file__).resolve().parents[2] / "secured"
    importing = re.compile(r"^\s*(from\s+\S*_kernels\S*\s+import|import\s+\S*_kernels)", re.M)
    offenders = [str(p.relative_to(root)) for p in root.rglob("*.py")
                 if p.parts[len(root.parts)] not in ("_kernels", "backend") and importing.search(p.read_text())]
    assert offenders == []
