/* refquant_kernel.h -- the C twin of refquant's int8 GEMM + requantization.
 *
 * Implements docs/gemm-contract.md bit for bit.  Plain C99, no Python types:
 * any C program (a SystemVerilog DPI-C testbench, a test driver) can call it.
 *
 * This header is deliberately free of preprocessor lines so that it doubles
 * as the cffi cdef text (cffi cannot parse #include/#ifdef).  A C caller must
 * therefore include <stdint.h> and <stddef.h> before including it:
 *
 *     #include <stdint.h>
 *     #include <stddef.h>
 *     #include "refquant_kernel.h"
 *
 * Threading: every function is reentrant; rq_gemm_run computes only the
 * rectangle [row_begin,row_end) x [col_begin,col_end) of the output, so
 * callers split work across threads by giving disjoint rectangles.
 */

/* Return codes.  RQ_OK and RQ_OVERFLOW are outcomes; the negative ones mean
 * nothing was written (arguments are checked before any computation). */
enum rq_status {
    RQ_OK = 0,
    RQ_OVERFLOW = 1,        /* policy ERROR: >= 1 accumulator step left int32 (see overflow_count) */
    RQ_E_NULL = -1,         /* a required pointer is NULL */
    RQ_E_DIM = -2,          /* m < 1, n < 1 or k < 0 */
    RQ_E_LD = -3,           /* lda < k, ldb < n or ldc < n */
    RQ_E_TYPE = -4,         /* unknown element type or type not allowed here */
    RQ_E_POLICY = -5,       /* unknown overflow policy */
    RQ_E_METHOD = -6,       /* unknown requantization method, or method/output type mismatch */
    RQ_E_PARAM = -7,        /* za/zb/m/shift/M/zp/qmin/qmax outside the method's domain */
    RQ_E_RANGE = -8,        /* row/col rectangle outside the output */
    RQ_E_PATH = -9,         /* a forced dispatch path is not usable on this CPU */
    RQ_E_NOMEM = -10,       /* workspace allocation failed */
    RQ_E_PACKED = -11,      /* packed B does not match k, n or its type */
    RQ_E_FPENV = -12        /* float_fp32 with a rounding mode other than round-to-nearest-even */
};

enum rq_type { RQ_I8 = 1, RQ_U8 = 2, RQ_I32 = 3 };

enum rq_policy { RQ_WRAP = 0, RQ_SATURATE = 1, RQ_ERROR = 2 };

enum rq_method {
    RQ_INT32 = 0,           /* no requantization: the output is the accumulator */
    RQ_FLOAT_FP32 = 1,      /* q = RNE(clamp(fl(fl(acc) * M_j))) + zp          */
    RQ_TFLITE_DOUBLE = 2,   /* RDBPOT(SRDHM(wrap32(acc << left), m), right)     */
    RQ_TFLITE_SINGLE = 3,   /* (acc*m + 2^(T-1)) >> T, T = 31 - shift           */
    RQ_TOSA_SINGLE = 4,     /* (acc*m + 2^(s-1)) >> s                           */
    RQ_TOSA_DOUBLE = 5      /* (acc*m + 2^(s-1) + d) >> s, d = +-2^30 if s > 31 */
};

/* VNNI: AVX-512 VNNI; AMX: AMX-INT8; AVX2: AVX2 only (exact 16-bit products, vpmaddwd);
 * AVXVNNI: AVX2 + AVX-VNNI (VEX vpdpbusd on 256-bit registers). */
enum rq_path { RQ_PATH_AUTO = 0, RQ_PATH_SCALAR = 1, RQ_PATH_VNNI = 2, RQ_PATH_AMX = 4, RQ_PATH_AVX2 = 8,
               RQ_PATH_AVXVNNI = 16 };

/* B pre-packed for the SIMD paths (and readable by the scalar path).
 * Caller-owned memory: data holds rq_packed_b_bytes(k, n) bytes, colsum
 * holds rq_packed_b_colsum_len(n) int32.  Layout: n_pad/16 panels of 16
 * columns; in a panel, k_pad/4 groups of 64 bytes = 16 columns x 4
 * consecutive k (the VNNI / AMX-B layout).  The stored byte is B as int8
 * (int8 B) or B - 128 (uint8 B); padding is 0.  colsum[j] is the wrapping
 * int32 sum over k of the stored bytes. */
typedef struct rq_packed_b {
    int32_t k, n;
    int32_t k_pad, n_pad;   /* k rounded up to 64, n rounded up to 32 */
    int32_t b_type;         /* RQ_I8 or RQ_U8 */
    int8_t *data;
    int32_t *colsum;
} rq_packed_b;

/* One GEMM + requantization problem.  acc[i][j] follows the contract's
 * section 2 (k ascending, bias as one more step), then section 3. */
typedef struct rq_gemm {
    int32_t m, n, k;
    const void *a;  int32_t a_type;  int32_t lda;   /* RQ_I8 / RQ_U8, m x k, lda >= k */
    const void *b;  int32_t b_type;  int32_t ldb;   /* RQ_I8 / RQ_U8, k x n, ldb >= n; or NULL ... */
    const rq_packed_b *packed_b;                    /* ... when packed_b is given (then b, b_type, ldb are ignored) */
    int32_t za;                                     /* in A's type range */
    const int32_t *zb;  int32_t zb_per_channel;     /* NULL = 0; else 1 or n values in B's type range */
    const int32_t *bias;                            /* NULL or n int32 */
    int32_t policy;                                 /* enum rq_policy */
    int32_t *overflow_count;                        /* NULL or m x n int32 (dense, row-major) */
    int32_t method;                                 /* enum rq_method */
    int32_t per_channel;                            /* requant parameters: 0 = one value, 1 = n values */
    const float *multiplier_f32;                    /* RQ_FLOAT_FP32: M_j, finite and >= 0 */
    const int32_t *multiplier;                      /* integer methods: m_j in [0, 2^31) */
    const int32_t *shift;                           /* tflite_*: [-31, 30]; tosa_*: s_j in [2, 62] */
    int32_t zp, qmin, qmax;                         /* qmin <= qmax inside c_type's range */
    void *c;  int32_t c_type;  int32_t ldc;         /* output m x n, ldc >= n; RQ_I32 for RQ_INT32 */
    int32_t row_begin, row_end, col_begin, col_end; /* rectangle to compute; an end of 0 means m (n) */
    int32_t path;                                   /* enum rq_path: requested */
    int32_t path_used;                              /* written: the path that actually ran */
} rq_gemm;

int rq_gemm_run(rq_gemm *g);

/* Runs rq_gemm_run on gs[0..count) at once: gs[0] on the calling thread, the others claimed one
 * at a time by the calling thread and up to count-1 threads of a persistent pool (its threads
 * poll briefly for more work before sleeping), so more problems than threads balance.  The problems
 * must write disjoint outputs (e.g. disjoint rectangles of one output).  Returns the first
 * negative code, else RQ_OVERFLOW if any problem returned it, else RQ_OK; each struct's
 * path_used is written as by rq_gemm_run. */
int rq_gemm_run_many(rq_gemm **gs, int32_t count);

/* The rectangles ts[0..count) of one problem (structs that differ only in their rectangle, as a
 * prepared op keeps them) on the A, lda and C given here: each struct is copied, its a, lda and c
 * set and overflow_count cleared, and the copies run as rq_gemm_run (count == 1) or
 * rq_gemm_run_many; ts itself is only read, so concurrent callers may share it.  *path_used, if
 * path_used is not NULL, gets the path of the first rectangle.  Codes as rq_gemm_run_many;
 * RQ_E_NULL for ts NULL or count < 1, RQ_E_NOMEM if the copies cannot be allocated. */
int rq_gemm_run_at(const rq_gemm *ts, int32_t count, const void *a, int32_t lda, void *c, int32_t *path_used);

/* Bit mask of the usable paths on this CPU (RQ_PATH_SCALAR | RQ_PATH_VNNI | RQ_PATH_AMX |
 * RQ_PATH_AVX2 | RQ_PATH_AVXVNNI).
 * The first call asks Linux for AMX tile-data permission; if refused, AMX is not listed. */
int rq_cpu_paths(void);

/* Peak probe (probe.c): runs `iters` x 16 independent vpdpbusd on `width` (512 or 256) bit
 * registers and returns the multiply-adds performed (0 when VNNI is not usable). */
int64_t rq_probe_vnni(int32_t width, int64_t iters);
/* Peak probe of the 256-bit paths: `iters` x 10 independent chains of what the AVX2 kernel
 * retires per product -- kind 0: vpmaddwd + vpaddd (16 exact products per pair, path AVX2),
 * kind 1: VEX vpdpbusd (32 products, path AVXVNNI); the products performed, 0 when not usable. */
int64_t rq_probe_avx2(int32_t kind, int64_t iters);
/* Peak probe of the AMX path (gemm_amx.c): `iters` x 4 independent tdpbusd on tiles; the
 * multiply-adds performed (16 x 16 x 64 each), 0 when AMX is not usable. */
int64_t rq_probe_amx(int64_t iters);
/* Read-bandwidth probe: the byte sum of buf[0..bytes), read as four sequential streams (AVX-512 when
 * the VNNI path is usable; plain C otherwise).  The caller times it (refquant.kernel.probe.read_gbs). */
uint64_t rq_probe_read(const void *buf, size_t bytes);

size_t rq_packed_b_bytes(int32_t k, int32_t n);
size_t rq_packed_b_colsum_len(int32_t n);
/* Fills pb (whose data/colsum the caller has pointed at buffers of the sizes above). */
int rq_pack_b(rq_packed_b *pb, const void *b, int32_t b_type, int32_t k, int32_t n, int32_t ldb);
/* Layout helper (convolution: NCHW <-> the GEMM's rows x channels): dst[c*ldd + r] = src[r*lds + c]
 * for r < rows, c < cols, elements of elem_bytes (1 or 4) bytes; strides in elements.  RQ_OK, or
 * RQ_E_NULL / RQ_E_DIM / RQ_E_LD / RQ_E_TYPE (elem_bytes) with nothing written. */
int rq_transpose(const void *src, void *dst, int32_t rows, int32_t cols, int32_t lds, int32_t ldd,
                 int32_t elem_bytes);

/* Depthwise 2-D convolution (dwconv.c): one filter per channel (ONNX group = C = M; TFLite
 * DEPTHWISE_CONV_2D with depth multiplier 1), NCHW, then the GEMM's requantization per channel.
 * For output (b, c, oh, ow): acc = the terms (x[b][c][ih][iw] - zx) * (w[c][kh][kw] - zw_c) for
 * kh, then kw, ascending, ih = oh*sh - pt + kh*dh, iw = ow*sw - pl + kw*dw (a position outside x
 * holds zx: its term is 0), each added under the policy as in rq_gemm (section 2 of
 * docs/gemm-contract.md), then bias_c as one more step; then section 3 with n = c (method,
 * per_channel, multipliers, shift, zp, qmin, qmax mean what they mean in rq_gemm).  The codes are
 * rq_gemm_run's; RQ_E_DIM also when oh/ow do not follow from the geometry. */
typedef struct rq_dwconv {
    int32_t batch, c, h, w;                         /* x: batch x c x h x w, dense */
    int32_t kh, kw, sh, sw, dh, dw;                 /* kernel size, strides, dilations (>= 1) */
    int32_t pt, pl, pb, pr;                         /* pads >= 0: top, left, bottom, right */
    int32_t oh, ow;                                 /* the output size the geometry gives */
    const void *x;  int32_t x_type;                 /* RQ_I8 / RQ_U8 */
    const void *wt; int32_t w_type;                 /* c x kh x kw, dense, RQ_I8 / RQ_U8 */
    int32_t zx;                                     /* in x's type range */
    const int32_t *zw;  int32_t zw_per_channel;     /* NULL = 0; else 1 or c values in w's range */
    const int32_t *bias;                            /* NULL or c int32 */
    int32_t policy;                                 /* enum rq_policy */
    int32_t *overflow_count;                        /* NULL or batch x c x oh x ow int32 */
    int32_t method, per_channel;
    const float *multiplier_f32;
    const int32_t *multiplier;
    const int32_t *shift;
    int32_t zp, qmin, qmax;
    void *y;  int32_t y_type;                       /* batch x c x oh x ow, dense; RQ_I32 for RQ_INT32 */
    int32_t row_begin, row_end;                     /* output rows of batch*oh to compute; end 0 = all */
    int32_t path;                                   /* enum rq_path: AMX runs the VNNI form, AVXVNNI the AVX2 one */
    int32_t path_used;                              /* written: the path that actually ran */
    const void *prep;                               /* NULL, or rq_dwconv_prepare's buffer for these c, kh, kw,
                                                       wt, w_type, zw, zx and bias (read, not checked) */
} rq_dwconv;

int rq_dwconv_run(rq_dwconv *d);
/* What the SIMD forms would lay out on every call, once: the weights w - zw in their lane order
 * and the channel corrections bias - zx * sum(w - zw) (mod 2^32).  rq_dwconv_prep_bytes: the size
 * of that buffer for d's c, kh, kw (0 for c, kh or kw < 1); rq_dwconv_prepare fills prep (that
 * many bytes, 64-byte aligned): RQ_OK, or RQ_E_NULL / RQ_E_DIM / RQ_E_TYPE / RQ_E_PARAM (a zero
 * point outside its type) with nothing written.  The caller then sets d->prep = prep. */
size_t rq_dwconv_prep_bytes(const rq_dwconv *d);
int rq_dwconv_prepare(const rq_dwconv *d, void *prep);
/* rq_dwconv_run on ds[0..count) at once (the GEMM's pool); disjoint row ranges of one output. */
int rq_dwconv_run_many(rq_dwconv **ds, int32_t count);

/* Layout helper (convolution, policy wrap: the GEMM's A of an order-free conv): for every output
 * pixel (b, oh, ow), oh < oh_n, ow < ow_n, of a batch x h x w x c (NHWC, dense) byte tensor, one
 * row of ldo bytes at dst + ((b*oh_n + oh)*ow_n + ow)*ldo holding the receptive field in (kh, kw, c)
 * order (ih = oh*sh - pt + kh*dh, iw = ow*sw - pl + kw*dw; a position outside x is c bytes of zx,
 * the low byte of zx), then bytes kh_n*kw_n*c .. ldo-1 as zx.  RQ_OK, or RQ_E_NULL / RQ_E_DIM (a
 * size or step < 1, a pad < 0) / RQ_E_LD (ldo < kh_n*kw_n*c) with nothing written. */
int rq_im2col(const void *src, void *dst, int32_t batch, int32_t h, int32_t w, int32_t c, int32_t kh_n,
              int32_t kw_n, int32_t sh, int32_t sw, int32_t dh, int32_t dw, int32_t pt, int32_t pl,
              int32_t oh_n, int32_t ow_n, int32_t ldo, int32_t zx);

/* Implicit-GEMM convolution (gemm.c, gemm_vnni.c): the GEMM g whose A is not laid out but read in
 * place from a padded NHWC image g->a of hp x wp x c uint8 (padding already holding za): GEMM row
 * i is output pixel (i / ow, i % ow) and its k-th term, k = (kh*kw_n + kw)*c + ch, reads the image
 * at row (i / ow)*sh + kh*dh, column (i % ow)*sw + kw*dw, channel ch -- an im2col row in (kh, kw,
 * c) order.  g->m must be oh*ow, g->k kh_n*kw_n*c, g->lda is ignored, B must be packed.  Runs only
 * where this form applies: the VNNI path is the one chosen (not AMX), c % 4 == 0, uint8 A, and no
 * column zero point that needs row sums (int8 B with zb_j = 0, or uint8 B with zb_j = 128);
 * anything else returns RQ_E_PATH with nothing written (use an im2col and rq_gemm_run).  Other
 * codes as rq_gemm_run; RQ_E_DIM also when the geometry reads outside the image. */
typedef struct rq_conv_a {
    int32_t c, hp, wp;                  /* the padded image */
    int32_t kh, kw, sh, sw, dh, dw;     /* kernel, strides, dilations (>= 1) */
    int32_t oh, ow;                     /* the output */
    void *y;  int32_t ldy;              /* NULL, or the NCHW output: after each rectangle, its block of
                                           g->c (pixels x channels) is also written transposed to
                                           y[ch*ldy + pixel] (ldy >= g->m; g->c stays the work area) */
} rq_conv_a;

int rq_conv_gemm_run(rq_gemm *g, const rq_conv_a *cv);
/* rq_conv_gemm_run on gs[0..count) (disjoint rectangles of one output) at once on the pool. */
int rq_conv_gemm_run_many(rq_gemm **gs, const rq_conv_a *cv, int32_t count);

/* Layout helper (implicit-GEMM convolution): one NCHW uint8/int8 image x (c x h x w, dense) to the
 * padded NHWC image xp (hp x wp x cp bytes): xp[(pt+i)*wp + pl + j][ch] = x[ch][i][j] for ch < c,
 * every other byte (the border, channels c .. cp-1) the low byte of zx.  xs: xp itself when there
 * is no padding (hp == h, wp == w, cp == c); otherwise unused (NULL allowed).
 * cp == c, or c < cp == 4.  Split over `parts` threads of the GEMM's pool (<= 1: this thread).
 * RQ_OK, or RQ_E_NULL / RQ_E_DIM with nothing written. */
int rq_conv_nhwc_pad(const void *x, void *xs, void *xp, int32_t c, int32_t h, int32_t w, int32_t pt,
                     int32_t pl, int32_t hp, int32_t wp, int32_t cp, int32_t zx, int32_t parts);

/* Layout helper (a 1x1 unpadded convolution with strides sh, sw): the pixels (i*sh, j*sw), i < oh,
 * j < ow, of one NCHW uint8/int8 image x (c x h x w, dense) as an NHWC image xs (oh*ow x c bytes):
 * xs[(i*ow + j)*c + ch] = x[ch][i*sh][j*sw].  tmp: c*oh*ow bytes of work space.  Split over
 * `parts` threads of the GEMM's pool (<= 1: this thread).  RQ_OK, or RQ_E_NULL / RQ_E_DIM
 * (a pixel outside the image) with nothing written. */
int rq_conv_nhwc_sub(const void *x, void *tmp, void *xs, int32_t c, int32_t h, int32_t w, int32_t sh, int32_t sw,
                     int32_t oh, int32_t ow, int32_t parts);
/* The same pixels kept NCHW: y[ch][i][j] = x[ch][i*sh][j*sw] (c x oh x ow bytes, dense). */
int rq_subsample_nchw(const void *x, void *y, int32_t c, int32_t h, int32_t w, int32_t sh, int32_t sw, int32_t oh,
                      int32_t ow, int32_t parts);

/* A 1x1 stride-1 convolution of one NCHW image without transposes: g is the GEMM whose A would be
 * the image's NHWC rows (g->k = K = channels rounded up to 4, g->n = M output channels, its
 * packed_b = the int8 weights as K x M); x: `c` channel rows of `p` uint8 pixels (row stride p);
 * wt: the same weights as M rows of K int8 (zero past channel c); y: M rows of p outputs (the
 * NCHW output, g->c_type).  Vectors hold 16 pixels, the weights are broadcast; the accumulators
 * and the requantization are the GEMM's (its column corrections are per output row here).  Runs
 * where the GEMM would run the VNNI path with uint8 A, int8 B, no row sums, method float_fp32
 * or int32 and the whole output; otherwise RQ_E_PATH, nothing written.  g's a, lda, m, c, ldc
 * and its rectangle are set here. */
int rq_conv1x1_nchw_run(rq_gemm *g, const uint8_t *x, int32_t c, int32_t p, const int8_t *wt, void *y);
/* rq_conv1x1_nchw_run split over the pool: gs[i] (count copies of one g) computes the i-th of count
 * runs of whole 64-pixel blocks (disjoint pixels of one output), or, for fewer than 4*count pixel
 * blocks and at least 32*count output channels, the i-th of count even runs of output channels. */
int rq_conv1x1_nchw_run_many(rq_gemm **gs, const uint8_t *x, int32_t c, int32_t p, const int8_t *wt, void *y,
                             int32_t count);

/* Scalar requantization of one accumulator (the portable definition, exported for tests). */
int rq_requant_one(int32_t acc, int32_t method, float mf, int32_t m, int32_t shift,
                   int32_t zp, int32_t qmin, int32_t qmax, int32_t *out);
