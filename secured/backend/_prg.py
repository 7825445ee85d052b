"""ChaCha20 keystream as uint64 words: the one PRG of SECURED (CPU side).

``chacha20_words(key, counter, n, offset)`` is the RFC 8439 ChaCha20 keystream for the
32-byte ``key`` and the 96-bit nonce ``counter`` (little-endian), starting at block
``offset // 8``, read as little-endian uint64 words and skipping ``offset % 8`` words. The
CUDA kernel in ``secured/_kernels/ring.cu`` computes the same words on a GPU; the tests check both
against this function, which runs OpenSSL's ChaCha20 through the ``cryptography`` package.
"""

from __future__ import annotations

import secrets

import numpy as np
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms

from ..exceptions import RingValueError

__all__ = ["new_key", "chacha20_words", "check_prg_args", "KEY_BYTES", "MAX_WORDS"]

KEY_BYTES = 32
#: A ChaCha20 stream has 2^32 blocks of 64 bytes (8 words) per (key, nonce).
MAX_WORDS = (1 << 32) * 8
_CHUNK = 1 << 20  # bytes per OpenSSL call: keeps the zero input and output in cache
_ZERO_VIEW = memoryview(bytes(_CHUNK))


def new_key() -> bytes:
    """A fresh 32-byte PRG key from the operating system's CSPRNG (:mod:`secrets`)."""
    return secrets.token_bytes(KEY_BYTES)


def check_prg_args(key: bytes, counter: int, n: int, offset: int) -> None:
    if not isinstance(key, (bytes, bytearray, memoryview)) or len(key) != KEY_BYTES:
        raise RingValueError(
            f"A PRG key must be {KEY_BYTES} bytes (use secured.backend.new_key()); got "
            f"{type(key).__name__} of length {len(key) if hasattr(key, '__len__') else '?'}."
        )
    for label, value, bound in (("counter", counter, 1 << 96), ("offset", offset, MAX_WORDS)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not (
            0 <= value < bound
        ):
            raise RingValueError(f"The PRG {label} must be an int in [0, 2^{bound.bit_length() - 1}).")
    if offset + n > MAX_WORDS:
        raise RingValueError(
            f"A PRG stream holds at most 2^35 words per (key, counter); asked for {n} words "
            f"from offset {offset}. Use another counter for more."
        )


def nonce_bytes(counter: int, block: int) -> bytes:
    """The 16-byte ChaCha20 nonce of ``cryptography``: 32-bit block counter || 96-bit nonce."""
    return int(block).to_bytes(4, "little") + int(counter).to_bytes(12, "little")


def chacha20_words(key: bytes, counter: int, n: int, offset: int = 0) -> np.ndarray:
    """``n`` uint64 words of the stream for (key, counter), from word ``offset``."""
    check_prg_args(key, counter, n, offset)
    skip = offset % 8
    nbytes = (n + skip) * 8
    out = np.empty(nbytes + 64, dtype=np.uint8)
    enc = Cipher(algorithms.ChaCha20(bytes(key), nonce_bytes(counter, offset // 8)), None).encryptor()
    view = memoryview(out)
    pos = 0
    while pos < nbytes:
        step = min(_CHUNK, nbytes - pos)
        pos += enc.update_into(_ZERO_VIEW[:step], view[pos:pos + step + 63])
    return out[skip * 8 : nbytes].view("<u8").astype(np.uint64, copy=False)
