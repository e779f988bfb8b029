/* rq_dpi.h -- refquant's C twin as a DPI-C reference model (docs/hardware.md section 6).
 *
 * A SystemVerilog testbench pushes a dot product's (a, b) beats, then finishes it with the zero
 * points, bias, accumulator policy, requantization method and parameters, and gets back the int32
 * accumulator and the requantized int8 output, exactly as docs/gemm-contract.md defines them
 * (accumulation section 2, requantization section 3; the same code as refquant's C kernel).
 *
 * Up to RQ_DPI_UNITS independent units (id 0..RQ_DPI_UNITS-1), each holding up to RQ_DPI_MAX_K
 * beats. Single-threaded use per id (a simulator calls DPI from its evaluation thread). Every
 * function returns a negative enum rq_status / rq_dpi_status code on bad input and writes nothing.
 */
#ifndef RQ_DPI_H
#define RQ_DPI_H
#include <stdint.h>

#define RQ_DPI_UNITS 64
#define RQ_DPI_MAX_K 16384
enum rq_dpi_status { RQ_DPI_E_ID = -100, RQ_DPI_E_FULL = -101, RQ_DPI_E_VALUE = -102 };

/* Forget unit id's beats. */
int rq_dpi_reset(int32_t id);
/* One beat: a and b as int8 values (-128..127). Returns the beat count, or a negative code. */
int rq_dpi_push(int32_t id, int32_t a, int32_t b);
/* Finish unit id's dot product and forget its beats:
 *   acc = step(... step(step(0 + t_0) + t_1) ... + bias), t_k = (a_k - za)(b_k - zb)
 *   y   = requant(acc) under method (enum rq_method: 2 tflite_double, 3 tflite_single,
 *         4 tosa_single, 5 tosa_double with (m, shift); 1 float_fp32 with m = the binary32 bit
 *         pattern of M), + zy, clamped to [qmin, qmax] (int8).
 * saturate: 0 wrap, 1 saturate. Returns RQ_OK (0), or a negative code (then acc, y untouched). */
int rq_dpi_finish(int32_t id, int32_t za, int32_t zb, int32_t bias, int32_t saturate, int32_t method,
                  int32_t m, int32_t shift, int32_t zy, int32_t qmin, int32_t qmax, int32_t *acc, int32_t *y);
/* Requantize one accumulator (no beats): the same y as rq_dpi_finish for that acc. */
int rq_dpi_requant(int32_t acc, int32_t method, int32_t m, int32_t shift, int32_t zy, int32_t qmin,
                   int32_t qmax, int32_t *y);
/* The usable kernel paths (the first call asks Linux for AMX tile permission: see the doc). */
int rq_dpi_cpu_paths(void);

#endif
