// CUDA kernels of the SECURED ring core, loaded by secured/backend/_cupy.py through
// cupy.RawModule (NVRTC) and compiled by tests/backend/test_cuda.py with nvcc when present.
// They compute bit for bit what secured/_kernels/_ring.pyx and _bits.pyx compute on the CPU;
// the float64 GEMMs between split and combine go to cuBLAS through cupy.matmul.
// NVRTC has no standard headers here: fixed-width types are spelled out.

typedef unsigned long long u64;
typedef long long i64;
typedef unsigned int u32;

#define MASK20 ((1ULL << 20) - 1ULL)
#define MASK22 ((1ULL << 22) - 1ULL)

__device__ __forceinline__ void digits(u64 x, double* d0, double* d1, double* d2) {
    i64 t = (i64)(x & MASK22);
    t -= (t >> 21) << 22;
    *d0 = (double)t;
    x = (x - (u64)t) >> 22;
    t = (i64)(x & MASK20);
    t -= (t >> 19) << 20;
    *d1 = (double)t;
    x = (x - (u64)t) >> 20;
    t = (i64)(x & MASK22);
    t -= (t >> 21) << 22;
    *d2 = (double)t;
}

// Left operand (rows, k) -> out (rows, nch*4*kc), slots [A0, A2, A1, A0+A1] per chunk.
extern "C" __global__ void split_a(const u64* a, double* out, i64 rows, i64 k, i64 kc, i64 nch) {
    i64 idx = (i64)blockIdx.x * blockDim.x + threadIdx.x;
    i64 stride = (i64)gridDim.x * blockDim.x;
    for (; idx < rows * k; idx += stride) {
        i64 r = idx / k, kk = idx - r * k;
        double d0, d1, d2;
        digits(a[idx], &d0, &d1, &d2);
        i64 base = r * nch * 4 * kc + (kk / kc) * 4 * kc + kk % kc;
        out[base] = d0;
        out[base + kc] = d2;
        out[base + 2 * kc] = d1;
        out[base + 3 * kc] = d0 + d1;
    }
}

// Right operand (batch, k, n) -> out (batch, nch*4*kc*n), slots [B2, B0, B1, B0+B1] per chunk.
extern "C" __global__ void split_b(const u64* b, double* out, i64 batch, i64 k, i64 n, i64 kc, i64 nch) {
    i64 idx = (i64)blockIdx.x * blockDim.x + threadIdx.x;
    i64 stride = (i64)gridDim.x * blockDim.x;
    i64 plane = kc * n;
    for (; idx < batch * k * n; idx += stride) {
        i64 q = idx / (k * n), rem = idx - q * k * n;
        i64 kk = rem / n, j = rem - kk * n;
        double d0, d1, d2;
        digits(b[idx], &d0, &d1, &d2);
        i64 base = q * nch * 4 * plane + (kk / kc) * 4 * plane + (kk % kc) * n + j;
        out[base] = d2;
        out[base + plane] = d0;
        out[base + 2 * plane] = d1;
        out[base + 3 * plane] = d0 + d1;
    }
}

// acc (+)= P0 + 2^22 (Q - P0 - P1) + 2^42 R + 2^44 P1 mod 2^64 (see _ring.pyx for why).
extern "C" __global__ void combine(const double* p0, const double* p1, const double* q,
                                   const double* r, u64* acc, i64 n, int accumulate) {
    i64 i = (i64)blockIdx.x * blockDim.x + threadIdx.x;
    i64 stride = (i64)gridDim.x * blockDim.x;
    for (; i < n; i += stride) {
        i64 c0 = (i64)p0[i], c11 = (i64)p1[i];
        u64 v = (u64)c0 + ((u64)((i64)q[i] - c0 - c11) << 22) + ((u64)(i64)r[i] << 42)
                + ((u64)c11 << 44);
        acc[i] = accumulate ? acc[i] + v : v;
    }
}

extern "C" __global__ void encode_fixed(const double* x, u64* out, i64 n, int f,
                                        unsigned long long* bad) {
    i64 i = (i64)blockIdx.x * blockDim.x + threadIdx.x;
    i64 stride = (i64)gridDim.x * blockDim.x;
    double scale = ldexp(1.0, f), limit = ldexp(1.0, 63);
    for (; i < n; i += stride) {
        double v = rint(x[i] * scale);
        if (v > -limit && v < limit) {
            out[i] = (u64)(i64)v;
        } else {
            out[i] = 0ULL;
            atomicAdd(bad, 1ULL);
        }
    }
}

extern "C" __global__ void decode_fixed(const u64* x, double* out, i64 n, int f) {
    i64 i = (i64)blockIdx.x * blockDim.x + threadIdx.x;
    i64 stride = (i64)gridDim.x * blockDim.x;
    double inv = ldexp(1.0, -f);
    for (; i < n; i += stride) out[i] = (double)(i64)x[i] * inv;
}

// ---------------------------------------------------------------- ChaCha20 (RFC 8439)
__device__ __forceinline__ u32 rotl32(u32 v, int c) { return (v << c) | (v >> (32 - c)); }

#define QR(a, b, c, d)                   \
    a += b; d ^= a; d = rotl32(d, 16);   \
    c += d; b ^= c; b = rotl32(b, 12);   \
    a += b; d ^= a; d = rotl32(d, 8);    \
    c += d; b ^= c; b = rotl32(b, 7);

// One thread per 64-byte block: words [8*blk, 8*blk+8) of the stream starting at block
// `first`, little-endian, written to out (n words; the first `skip` words are dropped).
extern "C" __global__ void chacha20_words(const u32* key, const u32* nonce, u32 first,
                                          u64* out, i64 n, i64 skip) {
    i64 blk = (i64)blockIdx.x * blockDim.x + threadIdx.x;
    i64 nblocks = (n + skip + 7) / 8;
    if (blk >= nblocks) return;
    u32 s[16], x[16];
    s[0] = 0x61707865u; s[1] = 0x3320646eu; s[2] = 0x79622d32u; s[3] = 0x6b206574u;
    for (int i = 0; i < 8; ++i) s[4 + i] = key[i];
    s[12] = first + (u32)blk;
    s[13] = nonce[0]; s[14] = nonce[1]; s[15] = nonce[2];
    for (int i = 0; i < 16; ++i) x[i] = s[i];
    for (int round = 0; round < 10; ++round) {
        QR(x[0], x[4], x[8], x[12]);
        QR(x[1], x[5], x[9], x[13]);
        QR(x[2], x[6], x[10], x[14]);
        QR(x[3], x[7], x[11], x[15]);
        QR(x[0], x[5], x[10], x[15]);
        QR(x[1], x[6], x[11], x[12]);
        QR(x[2], x[7], x[8], x[13]);
        QR(x[3], x[4], x[9], x[14]);
    }
    for (int w = 0; w < 8; ++w) {
        i64 pos = blk * 8 + w - skip;
        if (pos < 0 || pos >= n) continue;
        u64 lo = (u64)(x[2 * w] + s[2 * w]);
        u64 hi = (u64)(x[2 * w + 1] + s[2 * w + 1]);
        out[pos] = lo | (hi << 32);
    }
}

// ---------------------------------------------------------------- bit slicing
__device__ __forceinline__ void transpose64(u64* a) {
    int j = 32;
    u64 m = 0x00000000FFFFFFFFULL;
    while (j != 0) {
        for (int k = 0; k < 64; k = (k + j + 1) & ~j) {
            u64 t = ((a[k] >> j) ^ a[k + j]) & m;
            a[k] ^= t << j;
            a[k + j] ^= t;
        }
        j >>= 1;
        m ^= m << j;
    }
}

// One thread per group of 64 values: planes[i * words + g] bit t = bit i of x[64 g + t].
extern "C" __global__ void bit_decompose(const u64* x, u64* planes, i64 n, i64 words) {
    i64 g = (i64)blockIdx.x * blockDim.x + threadIdx.x;
    if (g >= words) return;
    u64 block[64];
    for (int t = 0; t < 64; ++t) {
        i64 pos = 64 * g + t;
        block[t] = pos < n ? x[pos] : 0ULL;
    }
    transpose64(block);
    for (int i = 0; i < 64; ++i) planes[(i64)i * words + g] = block[i];
}

extern "C" __global__ void bit_compose(const u64* planes, u64* x, i64 n, i64 words, i64 nplanes) {
    i64 g = (i64)blockIdx.x * blockDim.x + threadIdx.x;
    if (g >= words) return;
    u64 block[64];
    for (int i = 0; i < 64; ++i) block[i] = i < nplanes ? planes[(i64)i * words + g] : 0ULL;
    transpose64(block);
    for (int t = 0; t < 64; ++t) {
        i64 pos = 64 * g + t;
        if (pos < n) x[pos] = block[t];
    }
}
