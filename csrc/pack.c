/* pack.c -- B pre-packed for the SIMD paths (rq_pack_b and its sizes).
 *
 * The layout is the one refquant_kernel.h documents for rq_packed_b: n_pad/16
 * panels of 16 columns, each k_pad/4 groups of 64 bytes (16 columns x 4
 * consecutive k, the vpdpbusd / AMX-B operand); the byte is B (int8) or B - 128
 * (uint8), padding 0, and colsum[j] the wrapping int32 sum of column j's bytes.
 * The scalar path reads the same layout through rq_packed_index (rq_internal.h).
 */
#include <stdint.h>
#include <stddef.h>
#include <string.h>
#include "rq_simd.h"   /* includes rq_internal.h and refquant_kernel.h once */

size_t rq_packed_b_bytes(int32_t k, int32_t n)
{
    if (k < 0 || n < 1)
        return 0;
    return (size_t)((k + 63) / 64) * 64u * (size_t)((n + 31) / 32) * 32u;
}

size_t rq_packed_b_colsum_len(int32_t n)
{
    return n < 1 ? 0 : (size_t)((n + 31) / 32) * 32u;
}

#if RQ_X86_SIMD
/* Rows [0, k4) x columns [0, n16) of B, 4 rows x 16 columns at a time: two rounds of unpacking
 * (bytes, then 16-bit pairs) give the four 16-byte quarters of one packed 64-byte group (16
 * columns x 4 consecutive k); uint8 B is stored as B - 128 = B ^ 0x80. */
static void rq_pack_b_groups(rq_packed_b *pb, const uint8_t *b, int u8, int32_t k4, int32_t n16, int32_t ldb)
{
    const __m128i x = _mm_set1_epi8(u8 ? (char)0x80 : 0);
    const size_t panel = (size_t)(pb->k_pad / 4) * 64u;
    int32_t kk, j;
    for (kk = 0; kk < k4; kk += 4) {
        const uint8_t *r0 = b + (size_t)kk * (size_t)ldb;
        int8_t *d = pb->data + (size_t)(kk / 4) * 64u;
        for (j = 0; j < n16; j += 16) {
            __m128i a0 = _mm_xor_si128(_mm_loadu_si128((const __m128i *)(r0 + j)), x);
            __m128i a1 = _mm_xor_si128(_mm_loadu_si128((const __m128i *)(r0 + (size_t)ldb + j)), x);
            __m128i a2 = _mm_xor_si128(_mm_loadu_si128((const __m128i *)(r0 + 2u * (size_t)ldb + j)), x);
            __m128i a3 = _mm_xor_si128(_mm_loadu_si128((const __m128i *)(r0 + 3u * (size_t)ldb + j)), x);
            __m128i l01 = _mm_unpacklo_epi8(a0, a1), h01 = _mm_unpackhi_epi8(a0, a1);
            __m128i l23 = _mm_unpacklo_epi8(a2, a3), h23 = _mm_unpackhi_epi8(a2, a3);
            int8_t *dst = d + (size_t)(j / 16) * panel;
            _mm_storeu_si128((__m128i *)dst, _mm_unpacklo_epi16(l01, l23));          /* columns 0-3 */
            _mm_storeu_si128((__m128i *)(dst + 16), _mm_unpackhi_epi16(l01, l23));   /* 4-7 */
            _mm_storeu_si128((__m128i *)(dst + 32), _mm_unpacklo_epi16(h01, h23));   /* 8-11 */
            _mm_storeu_si128((__m128i *)(dst + 48), _mm_unpackhi_epi16(h01, h23));   /* 12-15 */
        }
    }
}
#endif

int rq_pack_b(rq_packed_b *pb, const void *b, int32_t b_type, int32_t k, int32_t n, int32_t ldb)
{
    int32_t kk, j, k4 = 0, n16 = 0;
    int off = b_type == RQ_U8 ? 128 : 0;
    if (!pb || !pb->data || !pb->colsum || (k > 0 && !b))
        return RQ_E_NULL;
    if (n < 1 || k < 0)
        return RQ_E_DIM;
    if (ldb < n)
        return RQ_E_LD;
    if (b_type != RQ_I8 && b_type != RQ_U8)
        return RQ_E_TYPE;
    pb->k = k;
    pb->n = n;
    pb->k_pad = ((k + 63) / 64) * 64;
    pb->n_pad = ((n + 31) / 32) * 32;
    pb->b_type = b_type;
    memset(pb->data, 0, rq_packed_b_bytes(k, n));
    memset(pb->colsum, 0, rq_packed_b_colsum_len(n) * sizeof(int32_t));
    /* colsum[j]: the wrapping sum of the stored bytes, row by row (a loop the compiler
     * vectorises; uint32_t and int32_t may alias: the stored int32 is the sum mod 2^32) */
    for (kk = 0; kk < k; kk++) {
        const uint8_t *row = (const uint8_t *)b + (size_t)kk * (size_t)ldb;
        uint32_t *cs = (uint32_t *)pb->colsum;
        if (b_type == RQ_I8)
            for (j = 0; j < n; j++)
                cs[j] += (uint32_t)(int32_t)(int8_t)row[j];
        else
            for (j = 0; j < n; j++)
                cs[j] += (uint32_t)((int32_t)row[j] - 128);
    }
#if RQ_X86_SIMD
    k4 = k / 4 * 4;
    n16 = n / 16 * 16;
    rq_pack_b_groups(pb, (const uint8_t *)b, b_type == RQ_U8, k4, n16, ldb);
#endif
    /* what the 4 x 16 blocks did not cover: rows of B in order; the bytes of one k-group are
     * written panel after panel */
    for (kk = 0; kk < k; kk++) {
        const uint8_t *row = (const uint8_t *)b + (size_t)kk * (size_t)ldb;
        int8_t *d = pb->data + (size_t)(kk / 4) * 64u + (size_t)(kk % 4);
        for (j = kk < k4 ? n16 : 0; j < n; j++) {
            int v = (b_type == RQ_I8 ? (int)(int8_t)row[j] : (int)row[j]) - off;
            d[(size_t)(j / 16) * (size_t)(pb->k_pad / 4) * 64u + (size_t)(j % 16) * 4u] = (int8_t)v;
        }
    }
    return RQ_OK;
}

/* ---- transpose (rq_transpose) ------------------------------------------------ */

/* Tiles of 64 x 64 elements: the tile's source rows and destination rows stay in L1 while
 * the inner loop writes destination rows contiguously. */
#define RQ_TT 64
#define RQ_TRANSPOSE_TILES(T)                                                                \
    {                                                                                        \
        const T *s_ = (const T *)src;                                                        \
        T *d_ = (T *)dst;                                                                    \
        for (r0 = 0; r0 < rows; r0 += RQ_TT)                                                 \
            for (c0 = 0; c0 < cols; c0 += RQ_TT) {                                          \
                int32_t re = r0 + RQ_TT < rows ? r0 + RQ_TT : rows;                          \
                int32_t ce = c0 + RQ_TT < cols ? c0 + RQ_TT : cols;                          \
                for (c = c0; c < ce; c++)                                                    \
                    for (r = r0; r < re; r++)                                                \
                        d_[(size_t)c * (size_t)ldd + (size_t)r] = s_[(size_t)r * (size_t)lds + (size_t)c]; \
            }                                                                                \
    }

#if RQ_X86_SIMD
/* 16 x 16 bytes with SSE2 (every x86-64 has it): four rounds of unpacking vector i with
 * vector i + 8 (8-, 16-, 32-, 64-bit units) leave column c in vector c when the source rows
 * are loaded in bit-reversed order (checked exhaustively: tests/test_kernel.py transposes). */
static void rq_transpose16_u8(const uint8_t *s, size_t lds, uint8_t *d, size_t ldd)
{
    static const int rev[16] = {0, 8, 4, 12, 2, 10, 6, 14, 1, 9, 5, 13, 3, 11, 7, 15};
    __m128i x[16], y[16];
    int i;
    for (i = 0; i < 16; i++)
        x[i] = _mm_loadu_si128((const __m128i *)(s + (size_t)rev[i] * lds));
    for (i = 0; i < 8; i++) { y[2 * i] = _mm_unpacklo_epi8(x[i], x[i + 8]); y[2 * i + 1] = _mm_unpackhi_epi8(x[i], x[i + 8]); }
    for (i = 0; i < 8; i++) { x[2 * i] = _mm_unpacklo_epi16(y[i], y[i + 8]); x[2 * i + 1] = _mm_unpackhi_epi16(y[i], y[i + 8]); }
    for (i = 0; i < 8; i++) { y[2 * i] = _mm_unpacklo_epi32(x[i], x[i + 8]); y[2 * i + 1] = _mm_unpackhi_epi32(x[i], x[i + 8]); }
    for (i = 0; i < 8; i++) { x[2 * i] = _mm_unpacklo_epi64(y[i], y[i + 8]); x[2 * i + 1] = _mm_unpackhi_epi64(y[i], y[i + 8]); }
    for (i = 0; i < 16; i++)
        _mm_storeu_si128((__m128i *)(d + (size_t)i * ldd), x[i]);
}

#ifndef RQ_TRANSPOSE_WIDE
#define RQ_TRANSPOSE_WIDE 1   /* -DRQ_TRANSPOSE_WIDE=0: 16 x 16 SSE2 tiles only (a tuning knob) */
#endif
/* 16 x 64 bytes with AVX-512 BW: the same network on four 128-bit lanes at once (the unpacks
 * work within lanes), so lane L of vector c is column 16L + c; each lane is one 16-byte store. */
RQ_AVX512 static void rq_transpose16x64_u8(const uint8_t *s, size_t lds, uint8_t *d, size_t ldd)
{
    static const int rev[16] = {0, 8, 4, 12, 2, 10, 6, 14, 1, 9, 5, 13, 3, 11, 7, 15};
    __m512i x[16], y[16];
    int i;
    for (i = 0; i < 16; i++)
        x[i] = _mm512_loadu_si512(s + (size_t)rev[i] * lds);
    for (i = 0; i < 8; i++) { y[2 * i] = _mm512_unpacklo_epi8(x[i], x[i + 8]); y[2 * i + 1] = _mm512_unpackhi_epi8(x[i], x[i + 8]); }
    for (i = 0; i < 8; i++) { x[2 * i] = _mm512_unpacklo_epi16(y[i], y[i + 8]); x[2 * i + 1] = _mm512_unpackhi_epi16(y[i], y[i + 8]); }
    for (i = 0; i < 8; i++) { y[2 * i] = _mm512_unpacklo_epi32(x[i], x[i + 8]); y[2 * i + 1] = _mm512_unpackhi_epi32(x[i], x[i + 8]); }
    for (i = 0; i < 8; i++) { x[2 * i] = _mm512_unpacklo_epi64(y[i], y[i + 8]); x[2 * i + 1] = _mm512_unpackhi_epi64(y[i], y[i + 8]); }
    for (i = 0; i < 16; i++) {
        _mm_storeu_si128((__m128i *)(d + (size_t)i * ldd), _mm512_castsi512_si128(x[i]));
        _mm_storeu_si128((__m128i *)(d + (size_t)(16 + i) * ldd), _mm512_extracti32x4_epi32(x[i], 1));
        _mm_storeu_si128((__m128i *)(d + (size_t)(32 + i) * ldd), _mm512_extracti32x4_epi32(x[i], 2));
        _mm_storeu_si128((__m128i *)(d + (size_t)(48 + i) * ldd), _mm512_extracti32x4_epi32(x[i], 3));
    }
}

/* 16 x 32 bytes: the same network on two 128-bit lanes (ymm), for the columns past the last
 * 64-wide tile. */
RQ_AVX512 static void rq_transpose16x32_u8(const uint8_t *s, size_t lds, uint8_t *d, size_t ldd)
{
    static const int rev[16] = {0, 8, 4, 12, 2, 10, 6, 14, 1, 9, 5, 13, 3, 11, 7, 15};
    __m256i x[16], y[16];
    int i;
    for (i = 0; i < 16; i++)
        x[i] = _mm256_loadu_si256((const __m256i *)(s + (size_t)rev[i] * lds));
    for (i = 0; i < 8; i++) { y[2 * i] = _mm256_unpacklo_epi8(x[i], x[i + 8]); y[2 * i + 1] = _mm256_unpackhi_epi8(x[i], x[i + 8]); }
    for (i = 0; i < 8; i++) { x[2 * i] = _mm256_unpacklo_epi16(y[i], y[i + 8]); x[2 * i + 1] = _mm256_unpackhi_epi16(y[i], y[i + 8]); }
    for (i = 0; i < 8; i++) { y[2 * i] = _mm256_unpacklo_epi32(x[i], x[i + 8]); y[2 * i + 1] = _mm256_unpackhi_epi32(x[i], x[i + 8]); }
    for (i = 0; i < 8; i++) { x[2 * i] = _mm256_unpacklo_epi64(y[i], y[i + 8]); x[2 * i + 1] = _mm256_unpackhi_epi64(y[i], y[i + 8]); }
    for (i = 0; i < 16; i++) {
        _mm_storeu_si128((__m128i *)(d + (size_t)i * ldd), _mm256_castsi256_si128(x[i]));
        _mm_storeu_si128((__m128i *)(d + (size_t)(16 + i) * ldd), _mm256_extracti128_si256(x[i], 1));
    }
}
#endif

/* An edge tile: nr <= 16 source rows x nc <= 16 columns, with masked loads and stores (AVX-512
 * BW + VL), so that nothing outside the nr x nc block is read or written.  Rows past nr load as
 * zeros (never stored).  The edges of a transpose were byte loops before: a depthwise conv's
 * per-row transposes of C x W with W = 14 or 7 were all edge (measured, 576 x 14: 16x slower
 * than tiles). */
RQ_AVX512 static void rq_transpose16_edge_u8(const uint8_t *s, size_t lds, uint8_t *d, size_t ldd, int32_t nr,
                                             int32_t nc)
{
    static const int rev[16] = {0, 8, 4, 12, 2, 10, 6, 14, 1, 9, 5, 13, 3, 11, 7, 15};
    const __mmask16 cm = (__mmask16)((1u << nc) - 1u), rm = (__mmask16)((1u << nr) - 1u);
    __m128i x[16], y[16];
    int i;
    for (i = 0; i < 16; i++)
        x[i] = rev[i] < nr ? _mm_maskz_loadu_epi8(cm, s + (size_t)rev[i] * lds) : _mm_setzero_si128();
    for (i = 0; i < 8; i++) { y[2 * i] = _mm_unpacklo_epi8(x[i], x[i + 8]); y[2 * i + 1] = _mm_unpackhi_epi8(x[i], x[i + 8]); }
    for (i = 0; i < 8; i++) { x[2 * i] = _mm_unpacklo_epi16(y[i], y[i + 8]); x[2 * i + 1] = _mm_unpackhi_epi16(y[i], y[i + 8]); }
    for (i = 0; i < 8; i++) { y[2 * i] = _mm_unpacklo_epi32(x[i], x[i + 8]); y[2 * i + 1] = _mm_unpackhi_epi32(x[i], x[i + 8]); }
    for (i = 0; i < 8; i++) { x[2 * i] = _mm_unpacklo_epi64(y[i], y[i + 8]); x[2 * i + 1] = _mm_unpackhi_epi64(y[i], y[i + 8]); }
    for (i = 0; i < nc; i++)
        _mm_mask_storeu_epi8(d + (size_t)i * ldd, rm, x[i]);
}

/* One tile at (r0, c0), `width` columns: 64 (wide), 32 (wide) or 16. */
#define RQ_TILE8(r0, c0, width)                                                                 \
    do {                                                                                        \
        const uint8_t *s_ = s8 + (size_t)(r0) * (size_t)lds + (size_t)(c0);                     \
        uint8_t *d_ = d8 + (size_t)(c0) * (size_t)ldd + (size_t)(r0);                           \
        if ((width) == 64)                                                                      \
            rq_transpose16x64_u8(s_, (size_t)lds, d_, (size_t)ldd);                             \
        else if ((width) == 32)                                                                 \
            rq_transpose16x32_u8(s_, (size_t)lds, d_, (size_t)ldd);                             \
        else                                                                                    \
            rq_transpose16_u8(s_, (size_t)lds, d_, (size_t)ldd);                                \
    } while (0)
/* The width of the tile at column c0: 64 while 64 columns remain, then one 32, then 16s (the
 * wide ones only where AVX-512 BW is usable). */
#define RQ_TILE_W(c0) (wide && (c0) + 64 <= cols ? 64 : wide && (c0) + 32 <= cols ? 32 : 16)

int rq_transpose(const void *src, void *dst, int32_t rows, int32_t cols, int32_t lds, int32_t ldd,
                 int32_t elem_bytes)
{
    int32_t r0, c0, r, c;
    if (!src || !dst)
        return RQ_E_NULL;
    if (rows < 0 || cols < 0)
        return RQ_E_DIM;
    if (lds < cols || ldd < rows)
        return RQ_E_LD;
    if (elem_bytes == 1) {
#if RQ_X86_SIMD
        int32_t r16 = rows / 16 * 16, c16 = cols / 16 * 16;
        const uint8_t *s8 = (const uint8_t *)src;
        uint8_t *d8 = (uint8_t *)dst;
        /* wide tiles where AVX-512 BW is usable, except for a destination stride that is a
         * multiple of 512 bytes: its 64 rows then share at most 8 L1 sets and evict each other
         * (measured 1024 x 196: 18 us with 16 x 16 tiles, 42 us with 16 x 64) */
        int wide = RQ_TRANSPOSE_WIDE && (rq_cpu_paths() & RQ_PATH_VNNI) != 0 && ldd % 512 != 0;
        /* The loop along the longer side is the inner one: then the lines that a tile uses
         * in part (destination rows for short rows, source rows for short columns) are
         * completed by the next tiles while they are in L1.  (Rows outer on a 96 x 12544 layer,
         * whose destination does not fit L2, wrote every destination line 6 times: 1.6x slower.) */
        if (cols >= rows) {
            for (c0 = 0; c0 < c16; c0 += RQ_TILE_W(c0))
                for (r0 = 0; r0 < r16; r0 += 16)
                    RQ_TILE8(r0, c0, RQ_TILE_W(c0));
        } else {
            /* 64 source rows at a time, so that the tiles of one column block complete their
             * destination lines (64 bytes) one after another: with a destination stride that is
             * a multiple of 512 bytes those lines share a few L1 sets, and lines left half
             * written for the next column block were evicted first (measured 2048 x 49 -> 49 x
             * 2048, the input of a 7x7 1x1 conv with 2048 channels: 35 us before) */
            int32_t rb, re;
            for (rb = 0; rb < r16; rb += 64) {
                re = rb + 64 < r16 ? rb + 64 : r16;
                for (c0 = 0; c0 < c16; c0 += RQ_TILE_W(c0))
                    for (r0 = rb; r0 < re; r0 += 16)
                        RQ_TILE8(r0, c0, RQ_TILE_W(c0));
            }
        }
        if (rq_cpu_paths() & RQ_PATH_VNNI) {   /* the edges in masked 16 x 16 tiles (AVX-512 BW + VL) */
            if (c16 < cols)
                for (r0 = 0; r0 < r16; r0 += 16)
                    rq_transpose16_edge_u8(s8 + (size_t)r0 * (size_t)lds + (size_t)c16, (size_t)lds,
                                           d8 + (size_t)c16 * (size_t)ldd + (size_t)r0, (size_t)ldd, 16, cols - c16);
            if (r16 < rows)
                for (c0 = 0; c0 < cols; c0 += 16)
                    rq_transpose16_edge_u8(s8 + (size_t)r16 * (size_t)lds + (size_t)c0, (size_t)lds,
                                           d8 + (size_t)c0 * (size_t)ldd + (size_t)r16, (size_t)ldd, rows - r16,
                                           cols - c0 < 16 ? cols - c0 : 16);
        } else {
            for (r = 0; r < rows; r++)   /* the edges: rows past r16, or columns past c16 */
                for (c = r < r16 ? c16 : 0; c < cols; c++)
                    d8[(size_t)c * (size_t)ldd + (size_t)r] = s8[(size_t)r * (size_t)lds + (size_t)c];
        }
#else
        RQ_TRANSPOSE_TILES(uint8_t)
#endif
    } else if (elem_bytes == 4)
        RQ_TRANSPOSE_TILES(uint32_t)
    else
        return RQ_E_TYPE;
    return RQ_OK;
}

/* ---- im2col (rq_im2col) ------------------------------------------------------------ */

/* One output pixel's row: kernel rows whose taps are all inside x and adjacent (dw = 1) are one
 * copy of kw_n*c bytes; anything else tap by tap. */
static void rq_im2col_pixel(const uint8_t *img, uint8_t *row, int32_t h, int32_t w, int32_t c, int32_t kh_n,
                            int32_t kw_n, int32_t dh, int32_t dw, int64_t ih0, int64_t iw0, int zbyte)
{
    int32_t i, j;
    const size_t run = (size_t)c;
    for (i = 0; i < kh_n; i++, row += (size_t)kw_n * run) {
        int64_t ih = ih0 + (int64_t)i * dh;
        if (ih < 0 || ih >= h) {
            memset(row, zbyte, (size_t)kw_n * run);
        } else if (dw == 1 && iw0 >= 0 && iw0 + kw_n <= w) {
            memcpy(row, img + ((size_t)ih * (size_t)w + (size_t)iw0) * run, (size_t)kw_n * run);
        } else {
            for (j = 0; j < kw_n; j++) {
                int64_t iw = iw0 + (int64_t)j * dw;
                if (iw < 0 || iw >= w)
                    memset(row + (size_t)j * run, zbyte, run);
                else
                    memcpy(row + (size_t)j * run, img + ((size_t)ih * (size_t)w + (size_t)iw) * run, run);
            }
        }
    }
}

int rq_im2col(const void *src, void *dst, int32_t batch, int32_t h, int32_t w, int32_t c, int32_t kh_n,
              int32_t kw_n, int32_t sh, int32_t sw, int32_t dh, int32_t dw, int32_t pt, int32_t pl,
              int32_t oh_n, int32_t ow_n, int32_t ldo, int32_t zx)
{
    int32_t b, oh, ow;
    int64_t k = (int64_t)kh_n * kw_n * c;
    int zbyte = (int)(uint8_t)zx;
    if (!src || !dst)
        return RQ_E_NULL;
    if (batch < 1 || h < 1 || w < 1 || c < 1 || kh_n < 1 || kw_n < 1 || sh < 1 || sw < 1 || dh < 1 || dw < 1 ||
        pt < 0 || pl < 0 || oh_n < 1 || ow_n < 1)
        return RQ_E_DIM;
    if (ldo < k)
        return RQ_E_LD;
    for (b = 0; b < batch; b++) {
        const uint8_t *img = (const uint8_t *)src + (size_t)b * (size_t)h * (size_t)w * (size_t)c;
        for (oh = 0; oh < oh_n; oh++)
            for (ow = 0; ow < ow_n; ow++) {
                uint8_t *row = (uint8_t *)dst + (((size_t)b * (size_t)oh_n + (size_t)oh) * (size_t)ow_n + (size_t)ow)
                               * (size_t)ldo;
                rq_im2col_pixel(img, row, h, w, c, kh_n, kw_n, dh, dw, (int64_t)oh * sh - pt,
                                (int64_t)ow * sw - pl, zbyte);
                if (ldo > k)
                    memset(row + k, zbyte, (size_t)(ldo - k));
            }
    }
    return RQ_OK;
}

/* ---- NCHW image -> padded NHWC image (rq_conv_nhwc_pad) ---------------------------- */

typedef struct rq_nhwc_job {
    const uint8_t *x;
    uint8_t *xs, *xp;
    int32_t c, h, w, pt, pl, hp, wp, cp, parts;
    int zb;
} rq_nhwc_job;

/* One image row of w pixels as 4 bytes each: channel ch < c from x[ch*plane + j], the rest zb
 * (c < 4: an RGB image with a fourth channel of zero-point bytes).  16 pixels at a time: two
 * rounds of SSE2 unpacks (bytes, then 16-bit pairs) interleave four 16-pixel channel rows. */
static void rq_c4_row(const uint8_t *x, size_t plane, int32_t c, int zb, int32_t w, uint8_t *d)
{
    int32_t j = 0, ch;
#if RQ_X86_SIMD
    for (; j + 16 <= w; j += 16) {
        __m128i r[4], ab0, ab1, cd0, cd1;
        for (ch = 0; ch < 4; ch++)
            r[ch] = ch < c ? _mm_loadu_si128((const __m128i *)(x + (size_t)ch * plane + (size_t)j))
                           : _mm_set1_epi8((char)zb);
        ab0 = _mm_unpacklo_epi8(r[0], r[1]);
        ab1 = _mm_unpackhi_epi8(r[0], r[1]);
        cd0 = _mm_unpacklo_epi8(r[2], r[3]);
        cd1 = _mm_unpackhi_epi8(r[2], r[3]);
        _mm_storeu_si128((__m128i *)(d + 4 * (size_t)j), _mm_unpacklo_epi16(ab0, cd0));
        _mm_storeu_si128((__m128i *)(d + 4 * (size_t)j + 16), _mm_unpackhi_epi16(ab0, cd0));
        _mm_storeu_si128((__m128i *)(d + 4 * (size_t)j + 32), _mm_unpacklo_epi16(ab1, cd1));
        _mm_storeu_si128((__m128i *)(d + 4 * (size_t)j + 48), _mm_unpackhi_epi16(ab1, cd1));
    }
#endif
    for (; j < w; j++)
        for (ch = 0; ch < 4; ch++)
            d[4 * (size_t)j + (size_t)ch] = ch < c ? x[(size_t)ch * plane + (size_t)j] : (uint8_t)zb;
}

/* Part t of the image's rows (and the top / bottom border for the first / last part): a
 * transpose of those rows into xs, then each row copied between its left and right borders. */
static int rq_nhwc_task(void *ctx, int32_t t)
{
    const rq_nhwc_job *J = (const rq_nhwc_job *)ctx;
    const int32_t h0 = (int32_t)((int64_t)J->h * t / J->parts), h1 = (int32_t)((int64_t)J->h * (t + 1) / J->parts);
    const size_t plane = (size_t)J->h * (size_t)J->w, rowb = (size_t)J->wp * (size_t)J->cp;
    const size_t left = (size_t)J->pl * (size_t)J->cp, mid = (size_t)J->w * (size_t)J->cp;
    int32_t i;
    int rc = RQ_OK;
    if (t == 0)
        memset(J->xp, J->zb, (size_t)J->pt * rowb);
    if (t == J->parts - 1)
        memset(J->xp + (size_t)(J->pt + J->h) * rowb, J->zb, (size_t)(J->hp - J->pt - J->h) * rowb);
    if (h0 >= h1)
        return RQ_OK;
    if (J->cp == J->c && J->xs == J->xp)   /* no padding: one transpose of the rows into xp */
        return rq_transpose(J->x + (size_t)h0 * (size_t)J->w, J->xp + (size_t)h0 * mid, J->c, (h1 - h0) * J->w,
                            (int32_t)plane, J->c, 1);
    /* each image row (c x w) transposed straight into its place between the borders of xp.  It
     * was one transpose of the rows into xs and a copy into xp; measured on the 2-core AMD EPYC
     * (Zen 4), 1 thread, pad 1: 128 x 56 x 56 29.9 -> 19.4 us, 256 x 28 x 28 12.9 -> 10.4,
     * 64 x 56 x 56 11.6 -> 8.6, 512 x 14 x 14 7.7 -> 7.0, 512 x 7 x 7 2.3 -> 2.1 */
    for (i = h0; i < h1 && rc == RQ_OK; i++) {
        uint8_t *row = J->xp + (size_t)(J->pt + i) * rowb;
        memset(row, J->zb, left);
        if (J->cp == J->c)
            rc = rq_transpose(J->x + (size_t)i * (size_t)J->w, row + left, J->c, J->w, (int32_t)plane, J->c, 1);
        else
            rq_c4_row(J->x + (size_t)i * (size_t)J->w, plane, J->c, J->zb, J->w, row + left);
        memset(row + left + mid, J->zb, rowb - left - mid);
    }
    return rc;
}

int rq_conv_nhwc_pad(const void *x, void *xs, void *xp, int32_t c, int32_t h, int32_t w, int32_t pt,
                     int32_t pl, int32_t hp, int32_t wp, int32_t cp, int32_t zx, int32_t parts)
{
    rq_nhwc_job J;
    if (!x || !xp)
        return RQ_E_NULL;
    if (c < 1 || h < 1 || w < 1 || pt < 0 || pl < 0 || hp < (int64_t)pt + h || wp < (int64_t)pl + w ||
        !(cp == c || (c < cp && cp == 4)) || (int64_t)hp * wp * cp > 0x7fffffff)
        return RQ_E_DIM;
    if (cp == c && xs == xp && (hp != h || wp != w))
        return RQ_E_DIM;   /* xs may be xp only without padding */
    J.x = (const uint8_t *)x;
    J.xs = (uint8_t *)xs;
    J.xp = (uint8_t *)xp;
    J.c = c, J.h = h, J.w = w, J.pt = pt, J.pl = pl, J.hp = hp, J.wp = wp, J.cp = cp;
    J.parts = parts < 1 ? 1 : parts > h ? h : parts;
    J.zb = (int)(uint8_t)zx;
    return rq_run_many(rq_nhwc_task, &J, J.parts);
}

/* ---- NCHW image -> NHWC image of every (sh, sw)-th pixel (rq_conv_nhwc_sub) ---------------- */

typedef struct rq_sub_job {
    const uint8_t *x;
    uint8_t *tmp, *xs;
    int32_t c, h, w, sh, sw, oh, ow, parts;
} rq_sub_job;

#if RQ_X86_SIMD
/* ow bytes s[0], s[2], ... s[2*(ow-1)]: the low bytes of 32 16-bit pairs per 64-byte load
 * (vpmovwb), loads and stores masked to the bytes the row has. */
RQ_AVX512 static void rq_even_bytes(const uint8_t *s, int32_t ow, uint8_t *d)
{
    int32_t j;
    for (j = 0; j < ow; j += 32) {
        const int32_t n = ow - j < 32 ? ow - j : 32;
        const __mmask64 ld = (((__mmask64)1 << (2 * n - 1)) - 1u);
        const __mmask32 st = n == 32 ? ~(__mmask32)0 : (((__mmask32)1 << n) - 1u);
        const __m512i v = _mm512_maskz_loadu_epi8(ld, s + 2 * (size_t)j);
        _mm256_mask_storeu_epi8(d + j, st, _mm512_cvtepi16_epi8(v));
    }
}
#endif

/* Part t of the output rows: each channel's pixels of those rows into tmp (c rows of oh*ow
 * bytes), then that block transposed into xs. */
static int rq_sub_task(void *ctx, int32_t t)
{
    const rq_sub_job *J = (const rq_sub_job *)ctx;
    const int32_t i0 = (int32_t)((int64_t)J->oh * t / J->parts), i1 = (int32_t)((int64_t)J->oh * (t + 1) / J->parts);
    const size_t plane = (size_t)J->h * (size_t)J->w, np_ = (size_t)J->oh * (size_t)J->ow;
#if RQ_X86_SIMD
    const int even = J->sw == 2 && (rq_cpu_paths() & RQ_PATH_VNNI) != 0;
#endif
    int32_t ch, i, j;
    if (i0 >= i1)
        return RQ_OK;
    for (ch = 0; ch < J->c; ch++)
        for (i = i0; i < i1; i++) {
            const uint8_t *s = J->x + (size_t)ch * plane + (size_t)i * (size_t)J->sh * (size_t)J->w;
            uint8_t *d = J->tmp + (size_t)ch * np_ + (size_t)i * (size_t)J->ow;
#if RQ_X86_SIMD
            if (even) {
                rq_even_bytes(s, J->ow, d);
                continue;
            }
#endif
            for (j = 0; j < J->ow; j++)
                d[j] = s[(size_t)j * (size_t)J->sw];
        }
    if (!J->xs)   /* rq_subsample_nchw: tmp is the result */
        return RQ_OK;
    return rq_transpose(J->tmp + (size_t)i0 * (size_t)J->ow, J->xs + (size_t)i0 * (size_t)J->ow * (size_t)J->c,
                        J->c, (i1 - i0) * J->ow, (int32_t)np_, J->c, 1);
}

static int rq_sub_check(int32_t c, int32_t h, int32_t w, int32_t sh, int32_t sw, int32_t oh, int32_t ow)
{
    if (c < 1 || h < 1 || w < 1 || sh < 1 || sw < 1 || oh < 1 || ow < 1 || (int64_t)(oh - 1) * sh >= h ||
        (int64_t)(ow - 1) * sw >= w || (int64_t)c * h * w > 0x7fffffff)
        return RQ_E_DIM;
    return RQ_OK;
}

int rq_subsample_nchw(const void *x, void *y, int32_t c, int32_t h, int32_t w, int32_t sh, int32_t sw, int32_t oh,
                      int32_t ow, int32_t parts)
{
    rq_sub_job J;
    if (!x || !y)
        return RQ_E_NULL;
    if (rq_sub_check(c, h, w, sh, sw, oh, ow) != RQ_OK)
        return RQ_E_DIM;
    J.x = (const uint8_t *)x;
    J.tmp = (uint8_t *)y;
    J.xs = NULL;
    J.c = c, J.h = h, J.w = w, J.sh = sh, J.sw = sw, J.oh = oh, J.ow = ow;
    J.parts = parts < 1 ? 1 : parts > oh ? oh : parts;
    return rq_run_many(rq_sub_task, &J, J.parts);
}

int rq_conv_nhwc_sub(const void *x, void *tmp, void *xs, int32_t c, int32_t h, int32_t w, int32_t sh, int32_t sw,
                     int32_t oh, int32_t ow, int32_t parts)
{
    rq_sub_job J;
    if (!x || !tmp || !xs)
        return RQ_E_NULL;
    if (rq_sub_check(c, h, w, sh, sw, oh, ow) != RQ_OK)
        return RQ_E_DIM;
    J.x = (const uint8_t *)x;
    J.tmp = (uint8_t *)tmp;
    J.xs = (uint8_t *)xs;
    J.c = c, J.h = h, J.w = w, J.sh = sh, J.sw = sw, J.oh = oh, J.ow = ow;
    J.parts = parts < 1 ? 1 : parts > oh ? oh : parts;
    return rq_run_many(rq_sub_task, &J, J.parts);
}
