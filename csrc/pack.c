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
#include "rq_internal.h"   /* includes refquant_kernel.h once */

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

int rq_pack_b(rq_packed_b *pb, const void *b, int32_t b_type, int32_t k, int32_t n, int32_t ldb)
{
    int32_t kk, j;
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
    for (j = 0; j < pb->n_pad; j++) {
        uint32_t s = 0;
        for (kk = 0; j < n && kk < k; kk++) {
            size_t src = (size_t)kk * (size_t)ldb + (size_t)j;
            int v = (b_type == RQ_I8 ? ((const int8_t *)b)[src] : ((const uint8_t *)b)[src]) - off;
            pb->data[rq_packed_index(pb->k_pad, kk, j)] = (int8_t)v;
            s += (uint32_t)v;
        }
        pb->colsum[j] = rq_wrap32(s);
    }
    return RQ_OK;
}
