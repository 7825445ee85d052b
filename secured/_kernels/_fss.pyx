# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
# cython: initializedcheck=False, nonecheck=False
"""Compiled distributed comparison functions (private; reached through secured.backend.fss_kernels).

A DCF key pair for alpha (n bits) lets two parties, each holding one key, compute XOR shares
of 1{x < alpha} for a public x by walking one path of a GGM tree (Boyle et al., EUROCRYPT
2021, Fig. 1, with the output group Z_2). The PRG of the tree is fixed-key AES-128 in
Matyas-Meyer-Oseas form with one public key K: the left (c = 0) and right (c = 1) child of a
seed s (whose two low bits are zero) are G_c(s) = AES_K(s | c) xor (s | c). Of the child's
128-bit block, bit 0 is its control bit t, bit 1 its output bit v, and the block with those
two bits cleared is its seed; a leaf's output bit is bit 2 of its seed. AES runs on AES-NI, eight elements interleaved so the rounds pipeline, groups of
elements in parallel with the GIL released. ``secured.backend._fss_numpy`` computes the same
bits with OpenSSL's AES (the tests compare the two); it stands in where AES-NI is missing.

Early termination (Boyle, Gilboa, Ishai 2016): the tree stops nu = min(7, n) levels early and a
leaf's 128-bit block G_2(s) holds the outputs of its 2^nu inputs, corrected on alpha's path
by a 128-bit word pair; this saves nu levels of key and of evaluation.

Layout (C order): seeds (m, 2) uint64 words (low, high) per 128-bit seed; scw (m, n - nu, 2)
the seed corrections; ctl (m, n - nu) uint8 with bit 0 the output correction, bits 1 and 2
the left and right control-bit corrections; fin (m, 2) uint64 the leaf correction. Tree level
i reads bit n - 1 - i of x and alpha (most significant first); the leaf bit is x mod 2^nu.
"""

from libc.stdint cimport uint64_t, uint8_t, int64_t
from cython.parallel cimport prange

cdef extern from *:
    """
    #include <stdint.h>
    #if defined(__AES__) && defined(__SSE2__)
    #include <wmmintrin.h>
    #include <emmintrin.h>
    #include <immintrin.h>
    #define SECURED_AESNI 1
    static __m128i secured_rk[11];

    static inline __m128i secured_key_step(__m128i key, __m128i gen) {
        gen = _mm_shuffle_epi32(gen, 0xff);
        key = _mm_xor_si128(key, _mm_slli_si128(key, 4));
        key = _mm_xor_si128(key, _mm_slli_si128(key, 4));
        key = _mm_xor_si128(key, _mm_slli_si128(key, 4));
        return _mm_xor_si128(key, gen);
    }

    static void secured_aes_setup(const uint8_t* key16) {
        __m128i* rk = secured_rk;
        __m128i x = _mm_loadu_si128((const __m128i*)key16);
        rk[0] = x;
        x = secured_key_step(x, _mm_aeskeygenassist_si128(x, 0x01)); rk[1] = x;
        x = secured_key_step(x, _mm_aeskeygenassist_si128(x, 0x02)); rk[2] = x;
        x = secured_key_step(x, _mm_aeskeygenassist_si128(x, 0x04)); rk[3] = x;
        x = secured_key_step(x, _mm_aeskeygenassist_si128(x, 0x08)); rk[4] = x;
        x = secured_key_step(x, _mm_aeskeygenassist_si128(x, 0x10)); rk[5] = x;
        x = secured_key_step(x, _mm_aeskeygenassist_si128(x, 0x20)); rk[6] = x;
        x = secured_key_step(x, _mm_aeskeygenassist_si128(x, 0x40)); rk[7] = x;
        x = secured_key_step(x, _mm_aeskeygenassist_si128(x, 0x80)); rk[8] = x;
        x = secured_key_step(x, _mm_aeskeygenassist_si128(x, 0x1b)); rk[9] = x;
        x = secured_key_step(x, _mm_aeskeygenassist_si128(x, 0x36)); rk[10] = x;
    }

    /* Child `which[j]` of seed in[j] for 8 seeds: AES(in | c) ^ (in | c). Always 8 (callers pad
       with copies) so the compiler unrolls the rounds and keeps the states in registers. */
    static inline void secured_mmo8(const int* which, const __m128i* in, __m128i* out) {
        __m128i x0, x1, x2, x3, x4, x5, x6, x7, s0, s1, s2, s3, s4, s5, s6, s7, k;
        int r;
        x0 = _mm_or_si128(in[0], _mm_cvtsi64_si128((int64_t)which[0]));
        x1 = _mm_or_si128(in[1], _mm_cvtsi64_si128((int64_t)which[1]));
        x2 = _mm_or_si128(in[2], _mm_cvtsi64_si128((int64_t)which[2]));
        x3 = _mm_or_si128(in[3], _mm_cvtsi64_si128((int64_t)which[3]));
        x4 = _mm_or_si128(in[4], _mm_cvtsi64_si128((int64_t)which[4]));
        x5 = _mm_or_si128(in[5], _mm_cvtsi64_si128((int64_t)which[5]));
        x6 = _mm_or_si128(in[6], _mm_cvtsi64_si128((int64_t)which[6]));
        x7 = _mm_or_si128(in[7], _mm_cvtsi64_si128((int64_t)which[7]));
        k = secured_rk[0];
        s0 = _mm_xor_si128(x0, k); s1 = _mm_xor_si128(x1, k); s2 = _mm_xor_si128(x2, k); s3 = _mm_xor_si128(x3, k);
        s4 = _mm_xor_si128(x4, k); s5 = _mm_xor_si128(x5, k); s6 = _mm_xor_si128(x6, k); s7 = _mm_xor_si128(x7, k);
        for (r = 1; r < 10; r++) {
            k = secured_rk[r];
            s0 = _mm_aesenc_si128(s0, k); s1 = _mm_aesenc_si128(s1, k); s2 = _mm_aesenc_si128(s2, k);
            s3 = _mm_aesenc_si128(s3, k); s4 = _mm_aesenc_si128(s4, k); s5 = _mm_aesenc_si128(s5, k);
            s6 = _mm_aesenc_si128(s6, k); s7 = _mm_aesenc_si128(s7, k);
        }
        k = secured_rk[10];
        out[0] = _mm_xor_si128(_mm_aesenclast_si128(s0, k), x0);
        out[1] = _mm_xor_si128(_mm_aesenclast_si128(s1, k), x1);
        out[2] = _mm_xor_si128(_mm_aesenclast_si128(s2, k), x2);
        out[3] = _mm_xor_si128(_mm_aesenclast_si128(s3, k), x3);
        out[4] = _mm_xor_si128(_mm_aesenclast_si128(s4, k), x4);
        out[5] = _mm_xor_si128(_mm_aesenclast_si128(s5, k), x5);
        out[6] = _mm_xor_si128(_mm_aesenclast_si128(s6, k), x6);
        out[7] = _mm_xor_si128(_mm_aesenclast_si128(s7, k), x7);
    }

    static void secured_dcf_eval(int party, int n, int nu, int64_t lo, int64_t hi, const uint64_t* seeds,
                                 const uint64_t* scw, const uint8_t* ctl, const uint64_t* fin,
                                 const uint64_t* x, uint8_t* out) {
        const __m128i clear = _mm_set_epi64x(-1, ~(int64_t)3);
        int levels = n - nu;
        int64_t g;
        for (g = lo; g < hi; g += 8) {
            int cnt = (hi - g) < 8 ? (int)(hi - g) : 8, j, i;
            __m128i s[8], y[8];
            int which[8];
            uint8_t t[8], v[8];
            for (j = 0; j < cnt; j++) {
                s[j] = _mm_and_si128(_mm_loadu_si128((const __m128i*)(seeds + 2 * (g + j))), clear);
                t[j] = (uint8_t)party; v[j] = 0;
            }
            for (j = cnt; j < 8; j++) { s[j] = s[0]; which[j] = 0; }     /* padding, results unused */
            for (i = 0; i < levels; i++) {
                for (j = 0; j < cnt; j++) which[j] = (int)((x[g + j] >> (n - 1 - i)) & 1);
                if ((i & 3) == 0 && i + 4 < levels)
                    for (j = 0; j < cnt; j++) _mm_prefetch((const char*)(scw + 2 * ((g + j) * levels + i + 4)), _MM_HINT_T0);
                secured_mmo8(which, s, y);
                for (j = 0; j < cnt; j++) {
                    int64_t at = (g + j) * levels + i;
                    uint64_t low = (uint64_t)_mm_cvtsi128_si64(y[j]);
                    uint8_t c = ctl[at], tn = (uint8_t)(low & 1), vn = (uint8_t)((low >> 1) & 1);
                    __m128i mask = _mm_set1_epi64x(-(int64_t)t[j]);
                    __m128i fix = _mm_and_si128(_mm_loadu_si128((const __m128i*)(scw + 2 * at)), mask);
                    v[j] ^= vn ^ (t[j] & c & 1);
                    tn ^= t[j] & (c >> (1 + which[j])) & 1;
                    s[j] = _mm_xor_si128(_mm_and_si128(y[j], clear), fix);
                    t[j] = tn;
                }
            }
            for (j = 0; j < 8; j++) which[j] = 2;
            secured_mmo8(which, s, y);
            for (j = 0; j < cnt; j++) {
                uint64_t words[2], leaf = x[g + j] & (((uint64_t)1 << nu) - 1);
                _mm_storeu_si128((__m128i*)words, y[j]);
                words[0] ^= fin[2 * (g + j)] & -(uint64_t)t[j];
                words[1] ^= fin[2 * (g + j) + 1] & -(uint64_t)t[j];
                out[g + j] = (uint8_t)(v[j] ^ ((words[leaf >> 6] >> (leaf & 63)) & 1));
            }
        }
    }

    /* The same walk for 16 elements with VAES (two AES blocks per 256-bit instruction, where
       the CPU has it; chosen at run time): the states stay in 256-bit registers between levels,
       two elements' corrections are applied in one operation, and the next cache line of each
       element's corrections is prefetched four levels ahead (a key is ~1 KB per element for a
       63-bit domain, so the walk is as much memory-bound as AES-bound). */
    #define SECURED_W 16
    #define SECURED_P 8
    #define SECURED_PF 4
    __attribute__((target("avx2,vaes,aes,sse4.1")))
    static void secured_dcf_eval_vaes(int party, int n, int nu, int64_t lo, int64_t hi, const uint64_t* seeds,
                                 const uint64_t* scw, const uint8_t* ctl, const uint64_t* fin,
                                 const uint64_t* x, uint8_t* out) {
        const __m256i clear = _mm256_set_epi64x(-1, ~(int64_t)3, -1, ~(int64_t)3);
        int levels = n - nu;
        __m256i rk[11];
        int r;
        for (r = 0; r < 11; r++) rk[r] = _mm256_broadcastsi128_si256(secured_rk[r]);
        int64_t g;
        for (g = lo; g < hi; g += SECURED_W) {
            int cnt = (hi - g) < SECURED_W ? (int)(hi - g) : SECURED_W, j, i;
            int64_t e[SECURED_W];
            __m256i s[SECURED_P], xin[SECURED_P], st[SECURED_P];
            uint64_t t[SECURED_W], v[SECURED_W], xv[SECURED_W];
            for (j = 0; j < SECURED_W; j++) { e[j] = g + (j < cnt ? j : 0); xv[j] = x[e[j]]; t[j] = (uint64_t)party; v[j] = 0; }
            for (j = 0; j < SECURED_P; j++)
                s[j] = _mm256_and_si256(_mm256_loadu2_m128i((const __m128i*)(seeds + 2 * e[2*j+1]), (const __m128i*)(seeds + 2 * e[2*j])), clear);
            for (i = 0; i < levels; i++) {
                int sh = n - 1 - i;
                if ((i & 3) == 0 && i + SECURED_PF < levels)
                    for (j = 0; j < SECURED_W; j++) _mm_prefetch((const char*)(scw + 2 * (e[j] * levels + i + SECURED_PF)), _MM_HINT_T0);
                for (j = 0; j < SECURED_P; j++) {
                    xin[j] = _mm256_or_si256(s[j], _mm256_set_epi64x(0, (xv[2*j+1] >> sh) & 1, 0, (xv[2*j] >> sh) & 1));
                    st[j] = _mm256_xor_si256(xin[j], rk[0]);
                }
                for (r = 1; r < 10; r++)
                    for (j = 0; j < SECURED_P; j++) st[j] = _mm256_aesenc_epi128(st[j], rk[r]);
                for (j = 0; j < SECURED_P; j++) {
                    __m256i y = _mm256_xor_si256(_mm256_aesenclast_epi128(st[j], rk[10]), xin[j]);
                    int a = 2*j, b = 2*j+1;
                    uint64_t la = (uint64_t)_mm256_extract_epi64(y, 0), lb = (uint64_t)_mm256_extract_epi64(y, 2);
                    uint64_t ca = ctl[e[a] * levels + i], cb = ctl[e[b] * levels + i];
                    uint64_t wa = (xv[a] >> sh) & 1, wb = (xv[b] >> sh) & 1;
                    __m256i mask = _mm256_set_epi64x(-(int64_t)t[b], -(int64_t)t[b], -(int64_t)t[a], -(int64_t)t[a]);
                    __m256i fix = _mm256_and_si256(_mm256_loadu2_m128i((const __m128i*)(scw + 2 * (e[b] * levels + i)),
                                                                       (const __m128i*)(scw + 2 * (e[a] * levels + i))), mask);
                    v[a] ^= ((la >> 1) ^ (t[a] & ca)) & 1;
                    v[b] ^= ((lb >> 1) ^ (t[b] & cb)) & 1;
                    t[a] = (la ^ (t[a] & (ca >> (1 + wa)))) & 1;
                    t[b] = (lb ^ (t[b] & (cb >> (1 + wb)))) & 1;
                    s[j] = _mm256_xor_si256(_mm256_and_si256(y, clear), fix);
                }
            }
            for (j = 0; j < SECURED_P; j++) {
                xin[j] = _mm256_or_si256(s[j], _mm256_set_epi64x(0, 2, 0, 2));
                st[j] = _mm256_xor_si256(xin[j], rk[0]);
            }
            for (r = 1; r < 10; r++)
                for (j = 0; j < SECURED_P; j++) st[j] = _mm256_aesenc_epi128(st[j], rk[r]);
            for (j = 0; j < SECURED_P; j++) {
                uint64_t words[4];
                __m256i y = _mm256_xor_si256(_mm256_aesenclast_epi128(st[j], rk[10]), xin[j]);
                _mm256_storeu_si256((__m256i*)words, y);
                for (int h = 0; h < 2; h++) {
                    int k = 2*j + h;
                    if (k >= cnt) break;
                    uint64_t w0 = words[2*h], w1 = words[2*h+1], leaf = xv[k] & (((uint64_t)1 << nu) - 1);
                    w0 ^= fin[2 * e[k]] & -t[k];
                    w1 ^= fin[2 * e[k] + 1] & -t[k];
                    out[e[k]] = (uint8_t)(v[k] ^ ((((leaf >> 6) ? w1 : w0) >> (leaf & 63)) & 1));
                }
            }
        }
    }

    static int secured_vaes = -1;
    static int secured_has_vaes(void) {
        if (secured_vaes < 0) {
            __builtin_cpu_init();
            secured_vaes = __builtin_cpu_supports("vaes") && __builtin_cpu_supports("avx2");
        }
        return secured_vaes;
    }

    static void secured_dcf_eval_any(int wide, int party, int n, int nu, int64_t lo, int64_t hi,
                                     const uint64_t* seeds, const uint64_t* scw, const uint8_t* ctl,
                                     const uint64_t* fin, const uint64_t* x, uint8_t* out) {
        if (wide && secured_has_vaes()) secured_dcf_eval_vaes(party, n, nu, lo, hi, seeds, scw, ctl, fin, x, out);
        else secured_dcf_eval(party, n, nu, lo, hi, seeds, scw, ctl, fin, x, out);
    }

    static void secured_dcf_gen(int n, int nu, int64_t lo, int64_t hi, const uint64_t* alpha,
                                const uint64_t* seeds0, const uint64_t* seeds1, uint64_t* scw, uint8_t* ctl,
                                uint64_t* fin) {
        /* Two elements at a time: both children of both parties' seeds of both elements are the
           8 interleaved AES blocks of one level. */
        const __m128i clear = _mm_set_epi64x(-1, ~(int64_t)3);
        static const int order[8] = {0, 1, 0, 1, 0, 1, 0, 1}, leafs[8] = {2, 2, 2, 2, 2, 2, 2, 2};
        int levels = n - nu;
        int64_t e;
        for (e = lo; e < hi; e += 2) {
            int pair = (hi - e) >= 2 ? 2 : 1, k, i, b, c;
            __m128i s[2][2], in[8], y[8];
            uint8_t t[2][2] = {{0, 1}, {0, 1}}, va[2] = {0, 0};
            for (k = 0; k < 2; k++) {
                int64_t el = e + (k < pair ? k : 0);
                s[k][0] = _mm_and_si128(_mm_loadu_si128((const __m128i*)(seeds0 + 2 * el)), clear);
                s[k][1] = _mm_and_si128(_mm_loadu_si128((const __m128i*)(seeds1 + 2 * el)), clear);
            }
            for (i = 0; i < levels; i++) {
                for (k = 0; k < 2; k++) {
                    in[4 * k] = s[k][0]; in[4 * k + 1] = s[k][0]; in[4 * k + 2] = s[k][1]; in[4 * k + 3] = s[k][1];
                }
                secured_mmo8(order, in, y);
                for (k = 0; k < pair; k++) {
                    int64_t el = e + k;
                    int a = (int)((alpha[el] >> (n - 1 - i)) & 1), keep = a, lose = 1 - a;
                    __m128i S[2][2], cw, mask;
                    uint8_t T[2][2], V[2][2], vcw, tl, tr;
                    for (b = 0; b < 2; b++)
                        for (c = 0; c < 2; c++) {
                            __m128i blk = y[4 * k + 2 * b + c];
                            uint64_t low = (uint64_t)_mm_cvtsi128_si64(blk);
                            S[b][c] = _mm_and_si128(blk, clear);
                            T[b][c] = (uint8_t)(low & 1);
                            V[b][c] = (uint8_t)((low >> 1) & 1);
                        }
                    cw = _mm_xor_si128(S[0][lose], S[1][lose]);
                    vcw = V[0][lose] ^ V[1][lose] ^ va[k] ^ (uint8_t)(lose == 0);
                    va[k] ^= V[0][keep] ^ V[1][keep] ^ vcw;
                    tl = T[0][0] ^ T[1][0] ^ (uint8_t)a ^ 1;
                    tr = T[0][1] ^ T[1][1] ^ (uint8_t)a;
                    _mm_storeu_si128((__m128i*)(scw + 2 * (el * levels + i)), cw);
                    ctl[el * levels + i] = (uint8_t)(vcw | (tl << 1) | (tr << 2));
                    for (b = 0; b < 2; b++) {
                        mask = _mm_set1_epi64x(-(int64_t)t[k][b]);
                        s[k][b] = _mm_xor_si128(S[b][keep], _mm_and_si128(cw, mask));
                        t[k][b] = T[b][keep] ^ (t[k][b] & (keep ? tr : tl));
                    }
                }
            }
            for (k = 0; k < 2; k++) {
                in[4 * k] = s[k][0]; in[4 * k + 1] = s[k][1]; in[4 * k + 2] = s[k][0]; in[4 * k + 3] = s[k][1];
            }
            secured_mmo8(leafs, in, y);
            for (k = 0; k < pair; k++) {   /* the leaf block: 1{j < alpha's low nu bits} on alpha's path */
                int64_t el = e + k;
                uint64_t c0[2], c1[2], below[2] = {0, 0}, al = alpha[el] & (((uint64_t)1 << nu) - 1);
                uint64_t fill = va[k] ? ~(uint64_t)0 : 0;
                _mm_storeu_si128((__m128i*)c0, y[4 * k]);
                _mm_storeu_si128((__m128i*)c1, y[4 * k + 1]);
                if (al >= 64) { below[0] = ~(uint64_t)0; below[1] = al == 64 ? 0 : ((uint64_t)1 << (al - 64)) - 1; }
                else below[0] = al == 0 ? 0 : ((uint64_t)1 << al) - 1;
                fin[2 * el] = c0[0] ^ c1[0] ^ fill ^ below[0];
                fin[2 * el + 1] = c0[1] ^ c1[1] ^ fill ^ below[1];
            }
        }
    }
    #else
    #define SECURED_AESNI 0
    static void secured_aes_setup(const uint8_t* key16) {}
    static int secured_has_vaes(void) { return 0; }
    static void secured_dcf_eval_any(int wide, int party, int n, int nu, int64_t lo, int64_t hi,
                                     const uint64_t* seeds, const uint64_t* scw, const uint8_t* ctl,
                                     const uint64_t* fin, const uint64_t* x, uint8_t* out) {}
    static void secured_dcf_eval(int party, int n, int nu, int64_t lo, int64_t hi, const uint64_t* seeds,
                                 const uint64_t* scw, const uint8_t* ctl, const uint64_t* fin,
                                 const uint64_t* x, uint8_t* out) {}
    static void secured_dcf_gen(int n, int nu, int64_t lo, int64_t hi, const uint64_t* alpha,
                                const uint64_t* seeds0, const uint64_t* seeds1, uint64_t* scw, uint8_t* ctl,
                                uint64_t* fin) {}
    #endif
    """
    int SECURED_AESNI
    void secured_aes_setup(const uint8_t* key16) nogil
    int secured_has_vaes() nogil
    void secured_dcf_eval_any(int wide, int party, int n, int nu, int64_t lo, int64_t hi, const uint64_t* seeds,
                              const uint64_t* scw, const uint8_t* ctl, const uint64_t* fin, const uint64_t* x,
                              uint8_t* out) nogil
    void secured_dcf_eval(int party, int n, int nu, int64_t lo, int64_t hi, const uint64_t* seeds,
                          const uint64_t* scw, const uint8_t* ctl, const uint64_t* fin, const uint64_t* x,
                          uint8_t* out) nogil
    void secured_dcf_gen(int n, int nu, int64_t lo, int64_t hi, const uint64_t* alpha, const uint64_t* seeds0,
                         const uint64_t* seeds1, uint64_t* scw, uint8_t* ctl, uint64_t* fin) nogil

AESNI = bool(SECURED_AESNI)
VAES = bool(secured_has_vaes())
DEF GROUP = 1024    # elements per parallel task (a multiple of the 8 interleaved)


def setup_key(bytes key):
    """Expand the fixed AES-128 key of the tree's PRG."""
    if len(key) != 16:
        raise ValueError("the PRG key is 16 bytes")
    secured_aes_setup(<const uint8_t*>key)


def dcf_eval(int party, int n, int nu, const uint64_t[:, ::1] seeds, const uint64_t[:, :, ::1] scw,
             const uint8_t[:, ::1] ctl, const uint64_t[:, ::1] fin, const uint64_t[::1] x, uint8_t[::1] out,
             int threads, bint wide=True):
    """out[e] = party's XOR share of 1{x[e] < alpha[e]}; the last ``nu`` bits are read from the
    leaf block (early termination), the first n - nu walk the tree (scw, ctl have n - nu levels)."""
    cdef int64_t m = x.shape[0], tasks = (m + GROUP - 1) // GROUP, task, lo, hi
    cdef const uint64_t* scw_p = &scw[0, 0, 0] if scw.shape[1] else NULL
    cdef const uint8_t* ctl_p = &ctl[0, 0] if ctl.shape[1] else NULL
    if m == 0:
        return
    with nogil:
        for task in prange(tasks, num_threads=threads, schedule="static"):
            lo = task * GROUP
            hi = lo + GROUP if lo + GROUP < m else m
            secured_dcf_eval_any(wide, party, n, nu, lo, hi, &seeds[0, 0], scw_p, ctl_p, &fin[0, 0], &x[0], &out[0])


def dcf_gen(int n, int nu, const uint64_t[::1] alpha, const uint64_t[:, ::1] seeds0, const uint64_t[:, ::1] seeds1,
            uint64_t[:, :, ::1] scw, uint8_t[:, ::1] ctl, uint64_t[:, ::1] fin, int threads):
    """The shared corrections of DCF keys for alpha[e] (the parties' seeds are seeds0, seeds1)."""
    cdef int64_t m = alpha.shape[0], tasks = (m + GROUP - 1) // GROUP, task, lo, hi
    cdef uint64_t* scw_p = &scw[0, 0, 0] if scw.shape[1] else NULL
    cdef uint8_t* ctl_p = &ctl[0, 0] if ctl.shape[1] else NULL
    if m == 0:
        return
    with nogil:
        for task in prange(tasks, num_threads=threads, schedule="static"):
            lo = task * GROUP
            hi = lo + GROUP if lo + GROUP < m else m
            secured_dcf_gen(n, nu, lo, hi, &alpha[0], &seeds0[0, 0], &seeds1[0, 0], scw_p, ctl_p, &fin[0, 0])
