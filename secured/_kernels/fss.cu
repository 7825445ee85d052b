// DCF evaluation on a GPU: the twin of secured/_kernels/_fss.pyx's dcf_eval (the same tree, the
// same fixed-key AES-128 Matyas-Meyer-Oseas PRG, the same bits), one thread per element.
//
// AES runs byte by byte from an S-box that each block builds in shared memory (the inverse in
// GF(2^8) and the affine map), so no table is typed in; the round keys of the public PRG key
// are expanded once per block. The per-element walk is plain C in dcf_eval_one, which the
// tests also compile for the CPU (SECURED_HOST_TEST) and compare with the compiled CPU kernels
// on random keys; the kernel itself runs where a GPU is lent (tests/backend/test_cuda.py,
// benchmarks/gpu_check.sh).
//
// Layout (row-major, as fss_kernels.dcf_eval): seeds (m, 2) u64, scw (m, L, 2) u64, ctl (m, L)
// u8, fin (m, 2) u64, x (m,) u64, out (m,) u8; L = n - nu tree levels, nu = min(7, n) leaf bits.

#ifdef SECURED_HOST_TEST
#include <stdint.h>
#define SECURED_DEVICE static inline
#else
typedef unsigned long long uint64_t;
typedef unsigned int uint32_t;
typedef unsigned char uint8_t;
#define SECURED_DEVICE __device__ __forceinline__
#endif

SECURED_DEVICE uint8_t gf_mul(uint8_t a, uint8_t b) {
    uint8_t p = 0;
    for (int i = 0; i < 8; i++) {
        if (b & 1) p ^= a;
        uint8_t hi = a & 0x80;
        a = (uint8_t)(a << 1);
        if (hi) a ^= 0x1b;
        b >>= 1;
    }
    return p;
}

// S(v) = affine(v^254): v^254 is v's inverse in GF(2^8) (0 for 0).
SECURED_DEVICE uint8_t sbox_entry(uint8_t v) {
    uint8_t inv = 1, base = v;
    for (int e = 254; e; e >>= 1) {
        if (e & 1) inv = gf_mul(inv, base);
        base = gf_mul(base, base);
    }
    if (v == 0) inv = 0;
    uint8_t s = inv;
    for (int i = 1; i < 5; i++) s ^= (uint8_t)((inv << i) | (inv >> (8 - i)));
    return (uint8_t)(s ^ 0x63);
}

// The 176 bytes of round keys of a 16-byte key.
SECURED_DEVICE void aes128_expand(const uint8_t* key, const uint8_t* sbox, uint8_t* rk) {
    for (int i = 0; i < 16; i++) rk[i] = key[i];
    uint8_t rcon = 1;
    for (int i = 16; i < 176; i += 4) {
        uint8_t t0 = rk[i - 4], t1 = rk[i - 3], t2 = rk[i - 2], t3 = rk[i - 1];
        if (i % 16 == 0) {
            uint8_t r = t0;
            t0 = (uint8_t)(sbox[t1] ^ rcon); t1 = sbox[t2]; t2 = sbox[t3]; t3 = sbox[r];
            rcon = gf_mul(rcon, 2);
        }
        rk[i] = rk[i - 16] ^ t0; rk[i + 1] = rk[i - 15] ^ t1;
        rk[i + 2] = rk[i - 14] ^ t2; rk[i + 3] = rk[i - 13] ^ t3;
    }
}

SECURED_DEVICE void aes128_encrypt(uint8_t* st, const uint8_t* sbox, const uint8_t* rk) {
    for (int i = 0; i < 16; i++) st[i] ^= rk[i];
    for (int round = 1; round <= 10; round++) {
        uint8_t t[16];
        for (int c = 0; c < 4; c++)             // SubBytes and ShiftRows: row r moves left by r
            for (int r = 0; r < 4; r++) t[4 * c + r] = sbox[st[4 * ((c + r) & 3) + r]];
        if (round < 10) {                       // MixColumns
            for (int c = 0; c < 4; c++) {
                uint8_t a0 = t[4 * c], a1 = t[4 * c + 1], a2 = t[4 * c + 2], a3 = t[4 * c + 3];
                uint8_t all = a0 ^ a1 ^ a2 ^ a3;
                st[4 * c] = a0 ^ all ^ gf_mul(a0 ^ a1, 2);
                st[4 * c + 1] = a1 ^ all ^ gf_mul(a1 ^ a2, 2);
                st[4 * c + 2] = a2 ^ all ^ gf_mul(a2 ^ a3, 2);
                st[4 * c + 3] = a3 ^ all ^ gf_mul(a3 ^ a0, 2);
            }
        } else {
            for (int i = 0; i < 16; i++) st[i] = t[i];
        }
        for (int i = 0; i < 16; i++) st[i] ^= rk[16 * round + i];
    }
}

// Matyas-Meyer-Oseas: AES_K(s | which) xor (s | which); s as two little-endian words.
SECURED_DEVICE void mmo(uint64_t s0, uint64_t s1, int which, const uint8_t* sbox, const uint8_t* rk,
                        uint64_t* y0, uint64_t* y1) {
    uint8_t st[16];
    s0 |= (uint64_t)which;
    for (int i = 0; i < 8; i++) { st[i] = (uint8_t)(s0 >> (8 * i)); st[8 + i] = (uint8_t)(s1 >> (8 * i)); }
    aes128_encrypt(st, sbox, rk);
    uint64_t a = 0, b = 0;
    for (int i = 7; i >= 0; i--) { a = (a << 8) | st[i]; b = (b << 8) | st[8 + i]; }
    *y0 = a ^ s0;
    *y1 = b ^ s1;
}

#define SECURED_CLEAR0 (~(uint64_t)3)

SECURED_DEVICE uint8_t dcf_eval_one(int party, int n, int nu, const uint64_t* seed, const uint64_t* scw,
                                    const uint8_t* ctl, const uint64_t* fin, uint64_t x,
                                    const uint8_t* sbox, const uint8_t* rk) {
    uint64_t s0 = seed[0] & SECURED_CLEAR0, s1 = seed[1];
    uint8_t t = (uint8_t)party, v = 0;
    int levels = n - nu;
    for (int i = 0; i < levels; i++) {
        int bit = (int)((x >> (n - 1 - i)) & 1);
        uint64_t y0, y1;
        mmo(s0, s1, bit, sbox, rk, &y0, &y1);
        uint8_t tn = (uint8_t)(y0 & 1), vn = (uint8_t)((y0 >> 1) & 1), c = ctl[i];
        v ^= vn ^ (t & c & 1);
        tn ^= t & ((c >> (1 + bit)) & 1);
        uint64_t keep = t ? ~(uint64_t)0 : 0;
        s0 = (y0 & SECURED_CLEAR0) ^ (scw[2 * i] & keep);
        s1 = y1 ^ (scw[2 * i + 1] & keep);
        t = tn;
    }
    uint64_t b0, b1;
    mmo(s0, s1, 2, sbox, rk, &b0, &b1);
    uint64_t keep = t ? ~(uint64_t)0 : 0;
    b0 ^= fin[0] & keep;
    b1 ^= fin[1] & keep;
    uint64_t leaf = x & (((uint64_t)1 << nu) - 1);
    uint64_t word = leaf >= 64 ? b1 : b0;
    return (uint8_t)(v ^ ((word >> (leaf & 63)) & 1));
}

#ifdef SECURED_HOST_TEST
// The CPU build of the same walk, for the tests.
extern "C" void dcf_eval_host(int party, int n, int nu, const uint8_t* key, long long m, const uint64_t* seeds,
                              const uint64_t* scw, const uint8_t* ctl, const uint64_t* fin, const uint64_t* x,
                              uint8_t* out) {
    uint8_t sbox[256], rk[176];
    for (int v = 0; v < 256; v++) sbox[v] = sbox_entry((uint8_t)v);
    aes128_expand(key, sbox, rk);
    int levels = n - nu;
    for (long long j = 0; j < m; j++)
        out[j] = dcf_eval_one(party, n, nu, seeds + 2 * j, scw + 2 * levels * j, ctl + levels * j, fin + 2 * j,
                              x[j], sbox, rk);
}
#else
extern "C" __global__ void dcf_eval(int party, int n, int nu, const uint8_t* key, long long m, const uint64_t* seeds,
                                    const uint64_t* scw, const uint8_t* ctl, const uint64_t* fin, const uint64_t* x,
                                    uint8_t* out) {
    __shared__ uint8_t sbox[256];
    __shared__ uint8_t rk[176];
    for (int v = threadIdx.x; v < 256; v += blockDim.x) sbox[v] = sbox_entry((uint8_t)v);
    __syncthreads();
    if (threadIdx.x == 0) aes128_expand(key, sbox, rk);
    __syncthreads();
    int levels = n - nu;
    for (long long j = (long long)blockIdx.x * blockDim.x + threadIdx.x; j < m; j += (long long)gridDim.x * blockDim.x)
        out[j] = dcf_eval_one(party, n, nu, seeds + 2 * j, scw + 2 * levels * j, ctl + levels * j, fin + 2 * j,
                              x[j], sbox, rk);
}
#endif
