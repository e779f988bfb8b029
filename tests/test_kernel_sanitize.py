"""The C twin under AddressSanitizer + UndefinedBehaviorSanitizer.

Compiles csrc/*.c with a small C driver (below) using
``gcc -fsanitize=address,undefined -fno-sanitize-recover=all`` and runs
every method, policy, overflow case and edge shape on every usable path,
with inputs in exactly-sized heap blocks so any read past an operand is
caught.  The driver also checks that every path agrees with the scalar path
and that bad arguments come back as error codes.  Zero findings required.
"""
import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CSRC = ROOT / "csrc"

DRIVER = r"""
#include <stdint.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "refquant_kernel.h"

static uint32_t seed = 2463534242u;
static uint32_t rnd(void) { seed ^= seed << 13; seed ^= seed >> 17; seed ^= seed << 5; return seed; }
static int32_t rrange(int32_t lo, int32_t hi)
{
    uint64_t span = (uint64_t)((int64_t)hi - lo) + 1u;
    return (int32_t)((int64_t)lo + (int64_t)(rnd() % span));
}
static int failures = 0, cases = 0;
#define CHECK(c) do { if (!(c)) { printf("FAIL line %d: %s\n", __LINE__, #c); failures++; } } while (0)

static int32_t lo_of(int t) { return t == RQ_I8 ? -128 : t == RQ_U8 ? 0 : (-2147483647 - 1); }
static int32_t hi_of(int t) { return t == RQ_I8 ? 127 : t == RQ_U8 ? 255 : 2147483647; }
static size_t size_of(int t) { return t == RQ_I32 ? 4 : 1; }

static void fill(uint8_t *p, size_t len, int t, int extreme)
{
    size_t i;
    for (i = 0; i < len; i++) {
        int32_t v = extreme ? ((rnd() & 1) ? lo_of(t) : hi_of(t)) : rrange(lo_of(t), hi_of(t));
        if (t == RQ_I8) { int8_t s = (int8_t)v; memcpy(p + i, &s, 1); } else p[i] = (uint8_t)v;
    }
}

static int32_t force_lda = 0;   /* one_case's A stride when nonzero (>= k) */
static int force_zb0 = 0;        /* one_case's zb: 0 (int8 B) or 128 (uint8 B), no row sums */

static void one_case(int m, int n, int k, int at, int bt, int policy, int method, int pc,
                     int extreme, int packed, int ct, int with_bias)
{
    int32_t lda = force_lda ? force_lda : k + (int32_t)(rnd() % 3), ldb = n + (int32_t)(rnd() % 2), ldc = n, j, p;
    size_t asz = (size_t)(m - 1) * lda + k, bsz = k ? (size_t)(k - 1) * ldb + n : 0;
    uint8_t *a = malloc(asz ? asz : 1), *b = malloc(bsz ? bsz : 1);
    int32_t np_ = pc ? n : 1;
    int32_t *zb = malloc(sizeof(int32_t) * n), *bias = malloc(sizeof(int32_t) * n);
    int32_t *mult = malloc(sizeof(int32_t) * np_), *shift = malloc(sizeof(int32_t) * np_);
    float *mf = malloc(sizeof(float) * np_);
    void *ref = malloc(size_of(ct) * (size_t)m * n), *out = malloc(size_of(ct) * (size_t)m * n);
    int32_t *cref = malloc(sizeof(int32_t) * (size_t)m * n), *cout = malloc(sizeof(int32_t) * (size_t)m * n);
    rq_packed_b pb;
    rq_gemm g;
    int rc0, avail = rq_cpu_paths();
    fill(a, asz, at, extreme);
    fill(b, bsz, bt, extreme);
    for (j = 0; j < n; j++) {
        zb[j] = force_zb0 ? (bt == RQ_U8 ? 128 : 0) : rrange(lo_of(bt), hi_of(bt));
        bias[j] = (int32_t)rnd();
    }
    for (j = 0; j < np_; j++) {
        mult[j] = (int32_t)(rnd() >> 1);
        if (rnd() % 4 == 0) mult[j] = 2147483647;
        shift[j] = (method >= RQ_TOSA_SINGLE) ? rrange(2, 62) : rrange(-31, 30);
        mf[j] = (float)rrange(0, 1000) * 1.0e-6f;   /* M_j >= 0 */
    }
    memset(&pb, 0, sizeof pb);
    if (packed) {
        pb.data = malloc(rq_packed_b_bytes(k, n) + 1);
        pb.colsum = malloc(sizeof(int32_t) * rq_packed_b_colsum_len(n));
        CHECK(rq_pack_b(&pb, b, bt, k, n, ldb) == RQ_OK);
    }
    memset(&g, 0, sizeof g);
    g.m = m; g.n = n; g.k = k;
    g.a = a; g.a_type = at; g.lda = lda;
    g.b = b; g.b_type = bt; g.ldb = ldb;
    g.packed_b = packed ? &pb : NULL;
    g.za = rrange(lo_of(at), hi_of(at));
    g.zb = zb; g.zb_per_channel = (int32_t)(rnd() & 1);
    g.bias = with_bias ? bias : NULL;
    g.policy = policy;
    g.overflow_count = cref;
    g.method = method; g.per_channel = pc;
    g.multiplier_f32 = mf; g.multiplier = mult; g.shift = shift;
    g.qmin = method == RQ_INT32 ? 0 : lo_of(ct) + (ct == RQ_I32 ? 0 : 1);
    g.qmax = method == RQ_INT32 ? 0 : hi_of(ct);
    if (method == RQ_FLOAT_FP32 && ct == RQ_I32) { g.qmin = -1000000; g.qmax = 1000000; }
    g.zp = method == RQ_INT32 ? 0 : rrange(g.qmin / 2, g.qmax / 2);
    g.c = ref; g.c_type = ct; g.ldc = ldc;
    g.path = RQ_PATH_SCALAR;
    rc0 = rq_gemm_run(&g);
    CHECK(rc0 == RQ_OK || rc0 == RQ_OVERFLOW);
    for (p = RQ_PATH_VNNI; p <= RQ_PATH_AVXVNNI; p *= 2) {   /* vnni, amx, avx2, avx_vnni */
        int twice;
        if (!(avail & p)) continue;
        for (twice = 0; twice < 2; twice++) {   /* with and without overflow counts */
            int rc;
            g.path = p;
            g.c = out;
            g.overflow_count = twice ? NULL : cout;
            g.row_begin = g.row_end = g.col_begin = g.col_end = 0;
            rc = rq_gemm_run(&g);
            if (twice && policy != RQ_WRAP) { CHECK(rc == RQ_OK || rc == RQ_OVERFLOW); continue; }
            CHECK(rc == rc0);
            CHECK(memcmp(out, ref, size_of(ct) * (size_t)m * n) == 0);
            if (!twice) CHECK(memcmp(cout, cref, sizeof(int32_t) * (size_t)m * n) == 0);
        }
    }
    cases++;
    free(a); free(b); free(zb); free(bias); free(mult); free(shift); free(mf);
    free(ref); free(out); free(cref); free(cout); free(pb.data); free(pb.colsum);
}

/* rq_gemm_run_many: a problem split into row and column rectangles (more of them than
 * pool threads, too) must equal the whole problem run at once. */
static void many_case(int m, int n, int k, int pieces, int by_rows)
{
    uint8_t *a = malloc((size_t)m * k + 1), *b = malloc((size_t)k * n + 1);
    float mf = 0.001f;
    uint8_t *ref = malloc((size_t)m * n), *out = malloc((size_t)m * n);
    rq_gemm g, parts[8], *ptrs[8];
    int i;
    fill(a, (size_t)m * k, RQ_U8, 0);
    fill(b, (size_t)k * n, RQ_I8, 0);
    memset(&g, 0, sizeof g);
    g.m = m; g.n = n; g.k = k; g.a = a; g.a_type = RQ_U8; g.lda = k;
    g.b = b; g.b_type = RQ_I8; g.ldb = n; g.za = 3;
    g.method = RQ_FLOAT_FP32; g.multiplier_f32 = &mf; g.qmin = 0; g.qmax = 255;
    g.c = ref; g.c_type = RQ_U8; g.ldc = n;
    CHECK(rq_gemm_run(&g) == RQ_OK);
    for (i = 0; i < pieces; i++) {
        parts[i] = g;
        parts[i].c = out;
        if (by_rows) { parts[i].row_begin = m * i / pieces; parts[i].row_end = m * (i + 1) / pieces; }
        else { parts[i].col_begin = n * i / pieces; parts[i].col_end = n * (i + 1) / pieces; }
        if (parts[i].row_end == 0 && by_rows) parts[i].row_end = parts[i].row_begin;  /* empty piece */
        ptrs[i] = &parts[i];
    }
    memset(out, 0, (size_t)m * n);
    CHECK(rq_gemm_run_many(ptrs, pieces) == RQ_OK);
    CHECK(memcmp(out, ref, (size_t)m * n) == 0);
    cases++;
    {   /* rq_gemm_run_at: the same rectangles as read-only templates (A and C set per call), and
         * 24 thin column pieces (more than its 16 stack copies: the allocated ones) */
        rq_gemm t[24];
        int32_t used = -1, np_ = n < 24 ? n : 24;
        for (i = 0; i < pieces; i++) {
            t[i] = parts[i];
            t[i].a = NULL; t[i].c = NULL; t[i].lda = 0;
        }
        memset(out, 0, (size_t)m * n);
        CHECK(rq_gemm_run_at(t, pieces, a, k, out, &used) == RQ_OK);
        CHECK(memcmp(out, ref, (size_t)m * n) == 0 && used == ptrs[0]->path_used);
        CHECK(t[0].a == NULL && t[0].c == NULL);   /* the templates are not written */
        for (i = 0; i < np_; i++) {
            t[i] = g;
            t[i].a = NULL; t[i].c = NULL;
            t[i].col_begin = n * i / np_; t[i].col_end = n * (i + 1) / np_;
        }
        memset(out, 0, (size_t)m * n);
        CHECK(rq_gemm_run_at(t, np_, a, k, out, NULL) == RQ_OK);
        CHECK(memcmp(out, ref, (size_t)m * n) == 0);
        cases++;
    }
    free(a); free(b); free(ref); free(out);
}

static void bad_arguments(void)
{
    rq_gemm g;
    int8_t a[12] = {0};
    int32_t c[16], m = 5, s = 40, out;
    float f = 1.0f;
    rq_packed_b pb;
    CHECK(rq_gemm_run(NULL) == RQ_E_NULL);
    memset(&g, 0, sizeof g);
    CHECK(rq_gemm_run(&g) == RQ_E_DIM);
    g.m = 2; g.n = 2; g.k = 3; g.a = a; g.a_type = RQ_I8; g.lda = 3;
    g.b = a; g.b_type = RQ_I8; g.ldb = 2; g.c = c; g.c_type = RQ_I32; g.ldc = 2;
    CHECK(rq_gemm_run(&g) == RQ_OK);
    g.m = -1; CHECK(rq_gemm_run(&g) == RQ_E_DIM); g.m = 2;
    g.k = -3; CHECK(rq_gemm_run(&g) == RQ_E_DIM); g.k = 3;
    g.lda = 2; CHECK(rq_gemm_run(&g) == RQ_E_LD); g.lda = 3;
    g.ldc = 1; CHECK(rq_gemm_run(&g) == RQ_E_LD); g.ldc = 2;
    g.a = NULL; CHECK(rq_gemm_run(&g) == RQ_E_NULL); g.a = a;
    g.c_type = RQ_I8; CHECK(rq_gemm_run(&g) == RQ_E_METHOD); g.c_type = RQ_I32;
    g.method = 99; CHECK(rq_gemm_run(&g) == RQ_E_METHOD);
    g.method = RQ_TOSA_SINGLE; g.multiplier = &m; g.shift = &s; g.qmin = -5; g.qmax = 5;
    CHECK(rq_gemm_run(&g) == RQ_OK);
    s = 63; CHECK(rq_gemm_run(&g) == RQ_E_PARAM);
    s = 1; CHECK(rq_gemm_run(&g) == RQ_E_PARAM);
    s = 40; m = -1; CHECK(rq_gemm_run(&g) == RQ_E_PARAM); m = 5;
    g.method = RQ_TFLITE_SINGLE; s = 31; CHECK(rq_gemm_run(&g) == RQ_E_PARAM);
    s = -32; CHECK(rq_gemm_run(&g) == RQ_E_PARAM); s = 0;
    g.qmin = 6; CHECK(rq_gemm_run(&g) == RQ_E_PARAM); g.qmin = -5;
    g.method = RQ_FLOAT_FP32; g.multiplier_f32 = &f; CHECK(rq_gemm_run(&g) == RQ_OK);
    f = 1.0f / 0.0f; CHECK(rq_gemm_run(&g) == RQ_E_PARAM); f = 1.0f;
    f = -1.0f; CHECK(rq_gemm_run(&g) == RQ_E_PARAM);      /* M_j < 0: outside the domain */
    f = -0.0f; CHECK(rq_gemm_run(&g) == RQ_OK); f = 1.0f;  /* -0 is 0, which is inside */
    g.zp = 1 << 25; CHECK(rq_gemm_run(&g) == RQ_E_PARAM); g.zp = 0;
    g.method = RQ_INT32;
    g.za = 128; CHECK(rq_gemm_run(&g) == RQ_E_PARAM); g.za = 0;
    g.policy = 3; CHECK(rq_gemm_run(&g) == RQ_E_POLICY); g.policy = 0;
    g.col_begin = 1; g.col_end = 3; CHECK(rq_gemm_run(&g) == RQ_E_RANGE);
    g.col_begin = 0; g.col_end = 0;
    g.path = 3; CHECK(rq_gemm_run(&g) == RQ_E_PATH); g.path = 0;
    g.path = 32; CHECK(rq_gemm_run(&g) == RQ_E_PATH); g.path = 0;
    memset(&pb, 0, sizeof pb);
    g.packed_b = &pb; CHECK(rq_gemm_run(&g) == RQ_E_NULL);
    pb.data = (int8_t *)a; pb.colsum = c; pb.k = 4; pb.n = 2;
    CHECK(rq_gemm_run(&g) == RQ_E_PACKED);
    g.packed_b = NULL;
    CHECK(rq_pack_b(NULL, a, RQ_I8, 3, 2, 2) == RQ_E_NULL);
    CHECK(rq_requant_one(0, RQ_TOSA_DOUBLE, 0.0f, 1, 70, 0, 0, 1, &out) == RQ_E_PARAM);
    CHECK(rq_requant_one(0, RQ_TOSA_DOUBLE, 0.0f, 1, 40, 0, 0, 1, NULL) == RQ_E_NULL);
    CHECK(rq_gemm_run_many(NULL, 2) == RQ_E_NULL);
    {
        rq_gemm *none[2] = {&g, NULL};
        CHECK(rq_gemm_run_many(none, 2) == RQ_E_NULL);
        CHECK(rq_gemm_run_many(none, 0) == RQ_OK);
        g.m = -1; CHECK(rq_gemm_run_many(none, 1) == RQ_E_DIM); g.m = 2;
        CHECK(rq_gemm_run_at(NULL, 1, a, 4, c, NULL) == RQ_E_NULL);
        CHECK(rq_gemm_run_at(&g, 0, a, 4, c, NULL) == RQ_E_NULL);
        g.m = -1; CHECK(rq_gemm_run_at(&g, 1, a, 4, c, NULL) == RQ_E_DIM); g.m = 2;
    }
}

/* rq_dwconv_run: the VNNI form (whole, and split into row ranges on the pool) against the
 * definition (the scalar path), on exactly-sized heap blocks. */
static void dw_case(int batch, int c, int h, int w, int k, int stride, int dil, int pad, int xt, int wt,
                    int policy, int method, int ct, int with_counts)
{
    rq_dwconv d, parts[3], *ptrs[3];
    int32_t oh = (h + 2 * pad - dil * (k - 1) - 1) / stride + 1, ow = (w + 2 * pad - dil * (k - 1) - 1) / stride + 1;
    size_t nx = (size_t)batch * c * h * w, nw = (size_t)c * k * k, ny = (size_t)batch * c * oh * ow;
    uint8_t *x = malloc(nx), *wts = malloc(nw);
    int32_t *zw = malloc(sizeof(int32_t) * c), *bias = malloc(sizeof(int32_t) * c);
    int32_t *mult = malloc(sizeof(int32_t) * c), *shift = malloc(sizeof(int32_t) * c);
    float *mf = malloc(sizeof(float) * c);
    void *ref = malloc(size_of(ct) * ny), *out = malloc(size_of(ct) * ny);
    int32_t *cref = malloc(sizeof(int32_t) * ny), *cout = malloc(sizeof(int32_t) * ny);
    int j, rc0, i, pth;
    if (oh < 1 || ow < 1) { free(x); free(wts); free(zw); free(bias); free(mult); free(shift); free(mf);
                            free(ref); free(out); free(cref); free(cout); return; }
    fill(x, nx, xt, 0);
    fill(wts, nw, wt, 0);
    for (j = 0; j < c; j++) {
        zw[j] = rrange(lo_of(wt), hi_of(wt));
        bias[j] = (rnd() & 1) ? (int32_t)rnd() : rrange(-1000, 1000);
        mult[j] = (int32_t)(rnd() >> 1);
        shift[j] = (method >= RQ_TOSA_SINGLE) ? rrange(2, 62) : rrange(-31, 30);
        mf[j] = (float)rrange(0, 1000) * 1.0e-6f;
    }
    memset(&d, 0, sizeof d);
    d.batch = batch; d.c = c; d.h = h; d.w = w; d.kh = d.kw = k; d.sh = d.sw = stride; d.dh = d.dw = dil;
    d.pt = d.pl = d.pb = d.pr = pad; d.oh = oh; d.ow = ow;
    d.x = x; d.x_type = xt; d.wt = wts; d.w_type = wt; d.zx = rrange(lo_of(xt), hi_of(xt));
    d.zw = zw; d.zw_per_channel = (int32_t)(rnd() & 1); d.bias = (rnd() & 1) ? bias : NULL;
    d.policy = policy; d.overflow_count = with_counts ? cref : NULL;
    d.method = method; d.per_channel = (int32_t)(rnd() & 1);
    d.multiplier_f32 = mf; d.multiplier = mult; d.shift = shift;
    d.qmin = method == RQ_INT32 ? 0 : lo_of(ct) + (ct == RQ_I32 ? 0 : 1);
    d.qmax = method == RQ_INT32 ? 0 : hi_of(ct);
    if (method == RQ_FLOAT_FP32 && ct == RQ_I32) { d.qmin = -1000000; d.qmax = 1000000; }
    d.zp = method == RQ_INT32 ? 0 : rrange(d.qmin / 2, d.qmax / 2);
    d.y = ref; d.y_type = ct; d.path = RQ_PATH_SCALAR;
    rc0 = rq_dwconv_run(&d);
    CHECK(rc0 == RQ_OK || rc0 == RQ_OVERFLOW);
    for (pth = RQ_PATH_VNNI; pth <= RQ_PATH_AVX2; pth *= 4) {   /* the AVX-512 and the AVX2 form */
        if (!(rq_cpu_paths() & pth)) continue;
        d.path = pth; d.y = out; d.overflow_count = with_counts ? cout : NULL;
        d.row_begin = d.row_end = 0;
        CHECK(rq_dwconv_run(&d) == rc0);
        CHECK(memcmp(out, ref, size_of(ct) * ny) == 0);
        if (with_counts) CHECK(memcmp(cout, cref, sizeof(int32_t) * ny) == 0);
        memset(out, 0, size_of(ct) * ny);
        for (i = 0; i < 3; i++) {
            parts[i] = d;
            parts[i].row_begin = batch * oh * i / 3;
            parts[i].row_end = batch * oh * (i + 1) / 3;
            if (parts[i].row_end == 0) parts[i].row_begin = parts[i].row_end = 0, parts[i].path = pth;
            ptrs[i] = &parts[i];
        }
        if (batch * oh >= 3) {
            CHECK(rq_dwconv_run_many(ptrs, 3) == rc0);
            CHECK(memcmp(out, ref, size_of(ct) * ny) == 0);
        }
        {   /* the weights laid out once (rq_dwconv_prepare), in an exactly-sized block */
            size_t pbytes = rq_dwconv_prep_bytes(&d);
            void *prep = pbytes ? aligned_alloc(64, pbytes) : NULL;
            CHECK(prep != NULL && rq_dwconv_prepare(&d, prep) == RQ_OK);
            memset(out, 0, size_of(ct) * ny);
            d.prep = prep; d.row_begin = d.row_end = 0;
            CHECK(rq_dwconv_run(&d) == rc0);
            CHECK(memcmp(out, ref, size_of(ct) * ny) == 0);
            if (with_counts) CHECK(memcmp(cout, cref, sizeof(int32_t) * ny) == 0);
            d.prep = NULL;
            free(prep);
        }
    }
    cases++;
    free(x); free(wts); free(zw); free(bias); free(mult); free(shift); free(mf);
    free(ref); free(out); free(cref); free(cout);
}

/* rq_im2col against its definition, read literally, on exactly-sized blocks. */
static void im2col_case(int batch, int h, int w, int c, int k, int s, int dil, int pad, int extra)
{
    int oh = (h + 2 * pad - dil * (k - 1) - 1) / s + 1, ow = (w + 2 * pad - dil * (k - 1) - 1) / s + 1;
    int ldo = k * k * c + extra, b, y, x, i, j, ch;
    uint8_t *src, *dst;
    if (oh < 1 || ow < 1) return;
    src = malloc((size_t)batch * h * w * c);
    dst = malloc((size_t)batch * oh * ow * ldo);
    fill(src, (size_t)batch * h * w * c, RQ_U8, 0);
    CHECK(rq_im2col(src, dst, batch, h, w, c, k, k, s, s, dil, dil, pad, pad, oh, ow, ldo, 77) == RQ_OK);
    for (b = 0; b < batch; b++)
        for (y = 0; y < oh; y++)
            for (x = 0; x < ow; x++) {
                const uint8_t *row = dst + (((size_t)b * oh + y) * ow + x) * ldo;
                for (i = 0; i < k; i++)
                    for (j = 0; j < k; j++)
                        for (ch = 0; ch < c; ch++) {
                            int ih = y * s - pad + i * dil, iw = x * s - pad + j * dil;
                            int want = (ih < 0 || ih >= h || iw < 0 || iw >= w) ? 77
                                       : src[(((size_t)b * h + ih) * w + iw) * c + ch];
                            CHECK(row[(i * k + j) * c + ch] == want);
                        }
                for (i = k * k * c; i < ldo; i++)
                    CHECK(row[i] == 77);
            }
    CHECK(rq_im2col(src, dst, batch, h, w, c, k, k, s, s, dil, dil, pad, pad, oh, ow, k * k * c - 1, 77) == RQ_E_LD);
    CHECK(rq_im2col(src, dst, batch, h, w, c, k, k, 0, s, dil, dil, pad, pad, oh, ow, ldo, 77) == RQ_E_DIM);
    CHECK(rq_im2col(NULL, dst, batch, h, w, c, k, k, s, s, dil, dil, pad, pad, oh, ow, ldo, 77) == RQ_E_NULL);
    cases++;
    free(src); free(dst);
}

/* rq_conv_gemm_run (A read in place from a padded NHWC image) against rq_gemm_run on the
 * explicit im2col of the same image, on exactly-sized blocks; split rectangles on the pool. */
static void conv_gemm_case(int hp, int wp, int c, int n, int k, int s, int dil, int bt)
{
    int oh = (hp - dil * (k - 1) - 1) / s + 1, ow = (wp - dil * (k - 1) - 1) / s + 1, kk = k * k * c, i;
    uint8_t *img = malloc((size_t)hp * wp * c), *a = malloc((size_t)oh * ow * kk), *b = malloc((size_t)kk * n);
    int8_t *ref = malloc((size_t)oh * ow * n), *out = malloc((size_t)oh * ow * n);
    int32_t zb = bt == RQ_I8 ? 0 : 128, *bias = malloc(sizeof(int32_t) * n), rc;
    float mf = 0.0005f;
    rq_packed_b pb;
    rq_gemm g, parts[3], *ptrs[3];
    rq_conv_a cv = {c, hp, wp, k, k, s, s, dil, dil, oh, ow};
    fill(img, (size_t)hp * wp * c, RQ_U8, 0);
    fill(b, (size_t)kk * n, bt, 0);
    for (i = 0; i < n; i++) bias[i] = rrange(-9999, 9999);
    CHECK(rq_im2col(img, a, 1, hp, wp, c, k, k, s, s, dil, dil, 0, 0, oh, ow, kk, 0) == RQ_OK);
    pb.data = malloc(rq_packed_b_bytes(kk, n) + 1);
    pb.colsum = malloc(sizeof(int32_t) * rq_packed_b_colsum_len(n));
    CHECK(rq_pack_b(&pb, b, bt, kk, n, n) == RQ_OK);
    memset(&g, 0, sizeof g);
    g.m = oh * ow; g.n = n; g.k = kk; g.a = a; g.a_type = RQ_U8; g.lda = kk; g.packed_b = &pb;
    g.za = 77; g.zb = &zb; g.bias = bias; g.method = RQ_FLOAT_FP32; g.multiplier_f32 = &mf;
    g.qmin = -128; g.qmax = 127; g.zp = 3; g.c = ref; g.c_type = RQ_I8; g.ldc = n;
    CHECK(rq_gemm_run(&g) == RQ_OK);
    g.a = img; g.c = out; g.lda = 0;
    if ((rq_cpu_paths() & RQ_PATH_AMX) && c % 4 == 0 && oh * ow > 4)   /* auto picks AMX: no implicit form */
        CHECK(rq_conv_gemm_run(&g, &cv) == RQ_E_PATH);
    if (rq_cpu_paths() & RQ_PATH_VNNI)
        g.path = RQ_PATH_VNNI;
    rc = rq_conv_gemm_run(&g, &cv);
    if (rq_cpu_paths() & RQ_PATH_VNNI) {
        CHECK(rc == (c % 4 ? RQ_E_PATH : RQ_OK));
        if (rc == RQ_OK) CHECK(memcmp(out, ref, (size_t)oh * ow * n) == 0);
        memset(out, 0, (size_t)oh * ow * n);
        for (i = 0; i < 3; i++) {
            parts[i] = g;
            parts[i].row_begin = oh * ow * i / 3;
            parts[i].row_end = oh * ow * (i + 1) / 3;
            ptrs[i] = &parts[i];
        }
        if (rc == RQ_OK && oh * ow >= 3) {
            CHECK(rq_conv_gemm_run_many(ptrs, &cv, 3) == RQ_OK);
            CHECK(memcmp(out, ref, (size_t)oh * ow * n) == 0);
        }
        if (rc == RQ_OK) {   /* cv.y: each rectangle also writes its block NCHW (rows, then columns split) */
            int8_t *y = malloc((size_t)oh * ow * n);
            int j, q;
            cv.y = y; cv.ldy = oh * ow;
            for (q = 0; q < 2; q++) {
                memset(y, 0, (size_t)oh * ow * n);
                for (i = 0; i < 2; i++) {
                    parts[i] = g;
                    if (q == 0) { parts[i].row_begin = oh * ow * i / 2; parts[i].row_end = oh * ow * (i + 1) / 2; }
                    else { parts[i].col_begin = i ? (n > 32 ? 32 : n) : 0; parts[i].col_end = i ? n : (n > 32 ? 32 : n); }
                    ptrs[i] = &parts[i];
                }
                CHECK(rq_conv_gemm_run_many(ptrs, &cv, 2) == RQ_OK);
                for (i = 0; i < oh * ow; i++)
                    for (j = 0; j < n; j++)
                        CHECK(y[(size_t)j * oh * ow + i] == ref[(size_t)i * n + j]);
            }
            cv.ldy = oh * ow - 1; CHECK(rq_conv_gemm_run(&g, &cv) == RQ_E_LD);
            cv.y = NULL;
            free(y);
        }
    } else {
        CHECK(rc == RQ_E_PATH);
    }
    zb = bt == RQ_I8 ? 1 : 0;   /* needs row sums: not this form */
    g.row_begin = g.row_end = 0;
    CHECK(rq_conv_gemm_run(&g, &cv) == RQ_E_PATH);
    cv.oh++; CHECK(rq_conv_gemm_run(&g, &cv) == RQ_E_DIM); cv.oh--;
    CHECK(rq_conv_gemm_run(&g, NULL) == RQ_E_NULL);
    cases++;
    free(img); free(a); free(b); free(ref); free(out); free(bias); free(pb.data); free(pb.colsum);
}

/* rq_conv_nhwc_pad against its definition, on exactly-sized blocks, split over 1-3 parts. */
static void nhwc_pad_case(int c, int h, int w, int pt, int pl, int pb, int pr, int cp)
{
    int hp = h + pt + pb, wp = w + pl + pr, parts, i, j, ch;
    uint8_t *x = malloc((size_t)c * h * w), *xs = malloc((size_t)c * h * w), *xp = malloc((size_t)hp * wp * cp);
    fill(x, (size_t)c * h * w, RQ_U8, 0);
    for (parts = 1; parts <= 3; parts++) {
        memset(xp, 0, (size_t)hp * wp * cp);
        CHECK(rq_conv_nhwc_pad(x, xs, xp, c, h, w, pt, pl, hp, wp, cp, 201, parts) == RQ_OK);
        for (i = 0; i < hp; i++)
            for (j = 0; j < wp; j++)
                for (ch = 0; ch < cp; ch++) {
                    int in = i >= pt && i < pt + h && j >= pl && j < pl + w && ch < c;
                    CHECK(xp[((size_t)i * wp + j) * cp + ch] ==
                          (in ? x[((size_t)ch * h + (i - pt)) * w + (j - pl)] : 201));
                }
    }
    CHECK(rq_conv_nhwc_pad(x, xs, xp, c, h, w, pt, pl, pt + h - 1, wp, cp, 201, 1) == RQ_E_DIM);
    CHECK(rq_conv_nhwc_pad(NULL, xs, xp, c, h, w, pt, pl, hp, wp, cp, 201, 1) == RQ_E_NULL);
    cases++;
    free(x); free(xs); free(xp);
}

/* rq_conv1x1_nchw_run (a 1x1 conv on NCHW rows, weights broadcast) against rq_gemm_run on the
 * NHWC rows of the same image (channels zero-padded to K = c rounded up to 4): float_fp32 -> int8
 * and int32 -> int32; nonzero weight zero points decline (RQ_E_PATH), bad arguments are errors. */
/* rq_transpose of 1- and 4-byte elements into an exactly-sized destination (tall sources in
 * 64-row blocks, destination strides that are multiples of 512 bytes or not). */
static void transpose_case(int rows, int cols)
{
    int e, r, c;
    for (e = 1; e <= 4; e += 3) {
        unsigned char *src = malloc((size_t)rows * cols * e), *dst = malloc((size_t)rows * cols * e);
        fill(src, (size_t)rows * cols * e, RQ_U8, 0);
        CHECK(rq_transpose(src, dst, rows, cols, cols, rows, e) == RQ_OK);
        for (r = 0; r < rows; r++)
            for (c = 0; c < cols; c++)
                CHECK(memcmp(dst + ((size_t)c * rows + r) * e, src + ((size_t)r * cols + c) * e, (size_t)e) == 0);
        free(src);
        free(dst);
        cases++;
    }
}

/* rq_subsample_nchw / rq_conv_nhwc_sub on exactly sized blocks, against the definition */
static void sub_case(int c, int h, int w, int sh, int sw, int parts)
{
    int oh = (h - 1) / sh + 1, ow = (w - 1) / sw + 1, ch, i, j;
    size_t np_ = (size_t)oh * ow;
    uint8_t *x = malloc((size_t)c * h * w), *y = malloc((size_t)c * np_), *t = malloc((size_t)c * np_),
            *xs = malloc((size_t)c * np_);
    fill(x, (size_t)c * h * w, RQ_U8, 0);
    CHECK(rq_subsample_nchw(x, y, c, h, w, sh, sw, oh, ow, parts) == RQ_OK);
    CHECK(rq_conv_nhwc_sub(x, t, xs, c, h, w, sh, sw, oh, ow, parts) == RQ_OK);
    for (ch = 0; ch < c; ch++)
        for (i = 0; i < oh; i++)
            for (j = 0; j < ow; j++) {
                uint8_t v = x[((size_t)ch * h + (size_t)i * sh) * w + (size_t)j * sw];
                CHECK(y[(size_t)ch * np_ + (size_t)i * ow + j] == v);
                CHECK(xs[((size_t)i * ow + j) * c + ch] == v);
            }
    CHECK(rq_subsample_nchw(x, y, c, h, w, sh, sw, oh + 1, ow, parts) == RQ_E_DIM);
    CHECK(rq_conv_nhwc_sub(x, t, xs, c, h, w, sh, sw, oh, ow + 1, parts) == RQ_E_DIM);
    CHECK(rq_conv_nhwc_sub(x, NULL, xs, c, h, w, sh, sw, oh, ow, parts) == RQ_E_NULL);
    free(x); free(y); free(t); free(xs);
    cases++;
}

static void conv1x1_case(int c, int np_, int n, int int32_out)
{
    int kk = (c + 3) / 4 * 4, i, m, rc, parts;
    uint8_t *x = malloc((size_t)c * np_), *a = calloc((size_t)np_ * kk, 1);
    int8_t *b = calloc((size_t)kk * n, 1), *wt = calloc((size_t)n * kk, 1);
    int32_t zb = 0, *bias = malloc(sizeof(int32_t) * n);
    size_t osz = (size_t)np_ * n * (int32_out ? 4 : 1);
    unsigned char *ref = malloc(osz), *out = malloc(osz);
    float mf = 0.0007f;
    rq_packed_b pb;
    rq_gemm g;
    fill(x, (size_t)c * np_, RQ_U8, 0);
    for (i = 0; i < c; i++)
        for (m = 0; m < n; m++)
            b[(size_t)i * n + m] = wt[(size_t)m * kk + i] = (int8_t)rrange(-128, 127);
    for (i = 0; i < np_; i++)
        for (m = 0; m < c; m++)
            a[(size_t)i * kk + m] = x[(size_t)m * np_ + i];
    for (i = 0; i < n; i++) bias[i] = rrange(-9999, 9999);
    pb.data = malloc(rq_packed_b_bytes(kk, n) + 1);
    pb.colsum = malloc(sizeof(int32_t) * rq_packed_b_colsum_len(n));
    CHECK(rq_pack_b(&pb, b, RQ_I8, kk, n, n) == RQ_OK);
    memset(&g, 0, sizeof g);
    g.m = np_; g.n = n; g.k = kk; g.a = a; g.a_type = RQ_U8; g.lda = kk; g.packed_b = &pb;
    g.za = 77; g.zb = &zb; g.bias = bias; g.zp = int32_out ? 0 : 3; g.ldc = n; g.c = ref;
    g.method = int32_out ? RQ_INT32 : RQ_FLOAT_FP32; g.multiplier_f32 = &mf;
    g.qmin = int32_out ? INT32_MIN : -128; g.qmax = int32_out ? INT32_MAX : 127;
    g.c_type = int32_out ? RQ_I32 : RQ_I8;
    CHECK(rq_gemm_run(&g) == RQ_OK);
    if ((rq_cpu_paths() & RQ_PATH_AMX) && np_ > 4)   /* auto picks AMX (M > 4), which has no NCHW 1x1 form */
        CHECK(rq_conv1x1_nchw_run(&g, x, c, np_, wt, out) == RQ_E_PATH);
    if (rq_cpu_paths() & RQ_PATH_VNNI)
        g.path = RQ_PATH_VNNI;
    rc = rq_conv1x1_nchw_run(&g, x, c, np_, wt, out);
    if (rq_cpu_paths() & RQ_PATH_VNNI) {
        CHECK(rc == RQ_OK);
        for (i = 0; i < np_ && rc == RQ_OK; i++)
            for (m = 0; m < n; m++) {
                if (int32_out)
                    CHECK(((int32_t *)out)[(size_t)m * np_ + i] == ((int32_t *)ref)[(size_t)i * n + m]);
                else
                    CHECK(((int8_t *)out)[(size_t)m * np_ + i] == ((int8_t *)ref)[(size_t)i * n + m]);
            }
        for (parts = 2; parts <= 3 && rc == RQ_OK; parts++) {   /* split over the pool in 64-pixel runs */
            rq_gemm gp[3], *gps[3];
            for (i = 0; i < parts; i++) { gp[i] = g; gps[i] = &gp[i]; }
            memset(out, 0, osz);
            CHECK(rq_conv1x1_nchw_run_many(gps, x, c, np_, wt, out, parts) == RQ_OK);
            for (i = 0; i < np_; i++)
                for (m = 0; m < n; m++) {
                    if (int32_out)
                        CHECK(((int32_t *)out)[(size_t)m * np_ + i] == ((int32_t *)ref)[(size_t)i * n + m]);
                    else
                        CHECK(((int8_t *)out)[(size_t)m * np_ + i] == ((int8_t *)ref)[(size_t)i * n + m]);
                }
        }
    } else {
        CHECK(rc == RQ_E_PATH);
    }
    zb = 1;                                    /* a weight zero point needs row sums: declined */
    CHECK(rq_conv1x1_nchw_run(&g, x, c, np_, wt, out) == RQ_E_PATH);
    zb = 0;
    CHECK(rq_conv1x1_nchw_run(&g, NULL, c, np_, wt, out) == RQ_E_NULL);
    CHECK(rq_conv1x1_nchw_run(&g, x, kk + 4, np_, wt, out) == RQ_E_DIM);
    cases++;
    free(x); free(a); free(b); free(wt); free(bias); free(ref); free(out); free(pb.data); free(pb.colsum);
}

static void dw_bad_arguments(void)
{
    rq_dwconv d, *none[1] = {NULL};
    uint8_t x[16] = {0}, wts[4] = {0};
    int32_t y[16];
    memset(&d, 0, sizeof d);
    CHECK(rq_dwconv_run(NULL) == RQ_E_NULL);
    CHECK(rq_dwconv_run(&d) == RQ_E_DIM);
    d.batch = 1; d.c = 1; d.h = d.w = 4; d.kh = d.kw = 2; d.sh = d.sw = d.dh = d.dw = 1; d.oh = d.ow = 3;
    d.x = x; d.x_type = RQ_U8; d.wt = wts; d.w_type = RQ_I8; d.y = y; d.y_type = RQ_I32;
    CHECK(rq_dwconv_run(&d) == RQ_OK);
    d.oh = 4; CHECK(rq_dwconv_run(&d) == RQ_E_DIM); d.oh = 3;
    d.pt = -1; CHECK(rq_dwconv_run(&d) == RQ_E_DIM); d.pt = 0;
    d.x = NULL; CHECK(rq_dwconv_run(&d) == RQ_E_NULL); d.x = x;
    d.x_type = RQ_I32; CHECK(rq_dwconv_run(&d) == RQ_E_TYPE); d.x_type = RQ_U8;
    d.zx = 256; CHECK(rq_dwconv_run(&d) == RQ_E_PARAM); d.zx = 0;
    d.policy = 7; CHECK(rq_dwconv_run(&d) == RQ_E_POLICY); d.policy = 0;
    d.y_type = RQ_I8; CHECK(rq_dwconv_run(&d) == RQ_E_METHOD); d.y_type = RQ_I32;
    d.row_begin = 2; d.row_end = 1; CHECK(rq_dwconv_run(&d) == RQ_E_RANGE); d.row_begin = d.row_end = 0;
    d.path = 3; CHECK(rq_dwconv_run(&d) == RQ_E_PATH); d.path = 0;
    CHECK(rq_dwconv_run_many(NULL, 1) == RQ_E_NULL);
    CHECK(rq_dwconv_run_many(none, 1) == RQ_E_NULL);
}

/* An int32 C of >= RQ_STREAM_BYTES (4 MiB; 64 KiB in the emulated-AMX build) on a 64-byte
 * boundary: the VNNI and AMX epilogues write it with non-temporal stores (requant_avx512.c
 * rq_stream_c; AMX's overlapped epilogue too when K >= 12 chunks of 64); N % 32 == 16 and
 * M % 12 != 0 (M % 32 != 0) leave partial blocks. */
static void stream_case(int at, int m, int n, int k)
{
    uint8_t *a = malloc((size_t)m * k), *b = malloc((size_t)k * n);
    int32_t *ref = malloc(sizeof(int32_t) * (size_t)m * n);
    int32_t *out = aligned_alloc(64, sizeof(int32_t) * (size_t)m * n);
    rq_gemm g;
    int p;
    fill(a, (size_t)m * k, at, 0);
    fill(b, (size_t)k * n, RQ_I8, 0);
    memset(&g, 0, sizeof g);
    g.m = m; g.n = n; g.k = k; g.a = a; g.a_type = at; g.lda = k; g.b = b; g.b_type = RQ_I8; g.ldb = n;
    g.za = 1; g.method = RQ_INT32; g.c = ref; g.c_type = RQ_I32; g.ldc = n; g.path = RQ_PATH_SCALAR;
    CHECK(rq_gemm_run(&g) == RQ_OK);
    for (p = RQ_PATH_VNNI; p <= RQ_PATH_AMX; p *= 2)
        if (rq_cpu_paths() & p) {
            memset(out, 0, sizeof(int32_t) * (size_t)m * n);
            g.c = out; g.path = p;
            CHECK(rq_gemm_run(&g) == RQ_OK);
            CHECK(memcmp(out, ref, sizeof(int32_t) * (size_t)m * n) == 0);
        }
    cases++;
    free(a); free(b); free(ref); free(out);
}

int main(void)
{
    static const int shapes[][3] = {{1, 1, 1}, {1, 1, 0}, {3, 5, 7}, {1, 33, 65}, {17, 1, 64},
                                    {33, 31, 129}, {40, 48, 3}, {8, 16, 4}, {2, 70, 200},
                                    {40, 70, 1030}, {20, 33, 2100}, {3, 130, 1030}, {17, 65, 1024}};
    int s, policy, method, rep;
    for (s = 0; s < (int)(sizeof shapes / sizeof shapes[0]); s++)
        for (policy = RQ_WRAP; policy <= RQ_ERROR; policy++)
            for (method = RQ_INT32; method <= RQ_TOSA_DOUBLE; method++)
                for (rep = 0; rep < 2; rep++) {
                    int at = (rnd() & 1) ? RQ_I8 : RQ_U8, bt = (rnd() & 1) ? RQ_I8 : RQ_U8;
                    int ct = method == RQ_INT32 ? RQ_I32 : (int[]){RQ_I8, RQ_U8, RQ_I32}[rnd() % 3];
                    one_case(shapes[s][0], shapes[s][1], shapes[s][2], at, bt, policy, method,
                             (int)(rnd() & 1), rep, (int)(rnd() & 1), ct, (int)(rnd() & 1));
                }
    /* accumulator overflow: 33100 extreme terms */
    for (policy = RQ_WRAP; policy <= RQ_ERROR; policy++)
        for (method = RQ_INT32; method <= RQ_TOSA_DOUBLE; method += 2)
            one_case(2, 3, 33100, RQ_U8, RQ_I8, policy, method, 1, 1, (int)(rnd() & 1),
                     method == RQ_INT32 ? RQ_I32 : RQ_I8, 1);
    /* uint8 A whose rows alias in L1 (stride a multiple of 4096): copied to a new stride */
    for (force_lda = 4096; force_lda <= 8192; force_lda += 4096)
        for (method = RQ_INT32; method <= RQ_TOSA_DOUBLE; method += 3) {
            one_case(30, 40, 64, RQ_U8, RQ_I8, RQ_WRAP, method, 1, 0, 1, method == RQ_INT32 ? RQ_I32 : RQ_U8, 1);
            one_case(13, 70, 4096, RQ_U8, RQ_I8, RQ_SATURATE, method, 0, 1, 1, method == RQ_INT32 ? RQ_I32 : RQ_I8, 1);
            one_case(25, 16, 1000, RQ_U8, RQ_U8, RQ_ERROR, method, 1, 0, 0, method == RQ_INT32 ? RQ_I32 : RQ_U8, 0);
        }
    force_lda = 0;
    /* no row sums (zb = 0): uint8 A read in place, blocks finished by the micro-kernel (int32 C of
     * method int32, 8-bit C of float_fp32), every block height, N with a 32-column tail */
    force_zb0 = 1;
    for (s = 5; s <= 30; s += 5)
        for (method = RQ_INT32; method <= RQ_FLOAT_FP32; method++)
            for (rep = 0; rep < 2; rep++)
                one_case(s + rep, 32 + 8 * rep, 4 * (s + 3), RQ_U8, rep ? RQ_U8 : RQ_I8, RQ_WRAP, method, rep, 0,
                         1 - rep, method == RQ_INT32 ? RQ_I32 : rep ? RQ_I8 : RQ_U8, rep);
    force_zb0 = 0;
    for (rep = 0; rep < 3; rep++) {
        many_case(70, 90, 300, 2, 1);
        many_case(40, 200, 1030, 3, 0);
        many_case(3, 130, 70, 5, 0);
        many_case(64, 64, 64, 8, 1);
    }
    stream_case(RQ_U8, 1030, 1040, 8);
    stream_case(RQ_I8, 1030, 1040, 8);
    stream_case(RQ_U8, 70, 304, 776);   /* AMX: the overlapped epilogue (13 chunks) */
    stream_case(RQ_I8, 70, 304, 776);
    CHECK(rq_probe_amx(2) == ((rq_cpu_paths() & RQ_PATH_AMX) ? 2 * 4 * 16 * 16 * 64 : 0));
    CHECK(rq_probe_amx(-1) == 0);
    bad_arguments();
    {
        static const int dws[][8] = {{1, 1, 1, 1, 1, 1, 1, 0}, {1, 5, 6, 7, 3, 1, 1, 1}, {2, 33, 9, 8, 3, 2, 1, 1},
                                     {1, 64, 12, 12, 3, 1, 2, 2}, {1, 40, 7, 5, 5, 2, 1, 0}, {3, 17, 4, 11, 2, 1, 1, 3},
                                     {1, 96, 10, 10, 3, 2, 1, 1}};
        for (s = 0; s < (int)(sizeof dws / sizeof dws[0]); s++)
            for (policy = RQ_WRAP; policy <= RQ_ERROR; policy++)
                for (method = RQ_INT32; method <= RQ_TOSA_DOUBLE; method++) {
                    int xt = (rnd() & 1) ? RQ_I8 : RQ_U8, wt = (rnd() & 1) ? RQ_I8 : RQ_U8;
                    int ct = method == RQ_INT32 ? RQ_I32 : (int[]){RQ_I8, RQ_U8, RQ_I32}[rnd() % 3];
                    dw_case(dws[s][0], dws[s][1], dws[s][2], dws[s][3], dws[s][4], dws[s][5], dws[s][6], dws[s][7],
                            xt, wt, policy, method, ct, (int)(rnd() & 1));
                }
        dw_bad_arguments();
        im2col_case(1, 1, 1, 1, 1, 1, 1, 0, 0);
        im2col_case(2, 7, 9, 3, 3, 2, 1, 1, 1);
        im2col_case(1, 8, 8, 5, 3, 1, 2, 2, 3);
        im2col_case(1, 11, 10, 3, 7, 2, 1, 3, 1);
        conv_gemm_case(6, 7, 4, 5, 3, 1, 1, RQ_I8);
        conv_gemm_case(9, 30, 8, 33, 3, 2, 1, RQ_U8);
        conv_gemm_case(12, 12, 64, 64, 3, 1, 2, RQ_I8);
        conv_gemm_case(5, 5, 6, 3, 1, 1, 1, RQ_I8);
        conv_gemm_case(16, 40, 12, 70, 2, 1, 1, RQ_I8);
        conv1x1_case(16, 49, 24, 0);
        conv1x1_case(32, 200, 16, 0);
        conv1x1_case(1026, 200, 7, 1);
        conv1x1_case(513, 80, 11, 0);
        conv1x1_case(64, 130, 100, 0);
        conv1x1_case(8, 130, 7, 1);
        sub_case(256, 56, 56, 2, 2, 1);
        sub_case(7, 9, 65, 2, 2, 2);   /* a row of 33 output pixels: a masked second chunk */
        sub_case(5, 11, 64, 3, 2, 3);
        sub_case(3, 8, 10, 2, 3, 1);
        sub_case(1, 1, 1, 1, 1, 1);
        transpose_case(2048, 49);
        transpose_case(1040, 36);
        transpose_case(100, 33);
        transpose_case(17, 300);
        conv1x1_case(20, 3, 9, 1);      /* the tail kernel: only tail pixels (T 4, K % 16 = 4) */
        conv1x1_case(36, 21, 5, 0);     /* tail 5: T 8, K % 8 = 4 */
        conv1x1_case(68, 17, 9, 1);     /* tail 1: T 1, K % 64 = 4 */
        conv1x1_case(12, 34, 17, 0);    /* tail 2: T 2, K < 32 */
        nhwc_pad_case(3, 7, 37, 1, 2, 2, 0, 4);
        nhwc_pad_case(1, 2, 16, 0, 0, 0, 0, 4);
        nhwc_pad_case(20, 5, 19, 1, 1, 1, 1, 20);
        nhwc_pad_case(64, 4, 33, 0, 0, 0, 0, 64);
        conv1x1_case(13, 100, 5, 0);
        conv1x1_case(32, 196, 32, 1);
        conv1x1_case(3, 17, 1, 0);
    }
    printf("paths=%d cases=%d failures=%d\n", rq_cpu_paths(), cases, failures);
    return failures ? 1 : 0;
}
"""


@pytest.mark.skipif(shutil.which("gcc") is None, reason="gcc not found")
@pytest.mark.parametrize("amx_emulated", [False, True], ids=["native", "amx_emulated"])
def test_kernel_clean_under_asan_ubsan(tmp_path, amx_emulated):
    """``amx_emulated``: built with -DRQ_AMX_EMULATE (csrc/gemm_amx.c's tile instructions in plain C,
    AMX listed wherever VNNI is), so the AMX driver runs every case under the sanitizers on a CPU
    without AMX too (tests/test_kernel_amx_emulated.py runs the Python twin tests on it)."""
    from refquant import kernel
    if amx_emulated and "vnni" not in kernel.paths():
        pytest.skip("the emulated AMX path needs AVX-512 VNNI (its packing and epilogue use AVX-512)")
    driver = tmp_path / "driver.c"
    driver.write_text(DRIVER)
    exe = tmp_path / "driver"
    sources = sorted(str(p) for p in CSRC.glob("*.c"))
    cmd = ["gcc", "-std=gnu99", "-O1", "-g", "-fno-omit-frame-pointer", "-ffp-contract=off",
           "-fsanitize=address,undefined", "-fno-sanitize-recover=all", "-Wall",
           *(["-DRQ_AMX_EMULATE", "-DRQ_STREAM_BYTES=((size_t)1<<16)"] if amx_emulated else []),
           f"-I{CSRC}", *sources, str(driver), "-lm", "-o", str(exe)]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=180)
    if res.returncode != 0 and "sanitize" in res.stderr and "cannot find" in res.stderr:
        pytest.skip(f"sanitizer runtime missing: {res.stderr[-300:]}")
    assert res.returncode == 0, res.stderr
    env = dict(os.environ, ASAN_OPTIONS="detect_leaks=1:abort_on_error=0",
               UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1")
    run = subprocess.run([str(exe)], capture_output=True, text=True, timeout=180, env=env)
    out = run.stdout + run.stderr
    assert "runtime error" not in out, out[-4000:]
    assert "AddressSanitizer" not in out, out[-4000:]
    assert run.returncode == 0, out[-4000:]
    assert "failures=0" in run.stdout
    if amx_emulated:   # the AMX path (4) was among the paths every case ran
        assert int(run.stdout.split("paths=")[1].split()[0]) & 4, run.stdout[-300:]
