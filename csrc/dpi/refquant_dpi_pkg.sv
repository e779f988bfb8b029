// refquant_dpi_pkg.sv -- the DPI-C imports of refquant's reference library (csrc/dpi/rq_dpi.h).
// Build the library with `refquant dpi build --out DIR`; see docs/hardware.md section 6.
//
//   import refquant_dpi_pkg::*;
//   void'(rq_dpi_reset(0));
//   for (int k = 0; k < K; k++) void'(rq_dpi_push(0, a[k], b[k]));
//   rc = rq_dpi_finish(0, za, zb, bias, 1, RQ_TFLITE_SINGLE, m, shift, zy, -128, 127, acc, y);
package refquant_dpi_pkg;
  // requantization methods (enum rq_method of refquant_kernel.h)
  localparam int RQ_FLOAT_FP32 = 1;     // m = the binary32 bit pattern of M
  localparam int RQ_TFLITE_DOUBLE = 2;  // (m, shift), shift > 0 a left shift
  localparam int RQ_TFLITE_SINGLE = 3;
  localparam int RQ_TOSA_SINGLE = 4;    // (m, s)
  localparam int RQ_TOSA_DOUBLE = 5;

  import "DPI-C" function int rq_dpi_reset(input int id);
  import "DPI-C" function int rq_dpi_push(input int id, input int a, input int b);
  import "DPI-C" function int rq_dpi_finish(input int id, input int za, input int zb, input int bias,
                                            input int saturate, input int method, input int m, input int shift,
                                            input int zy, input int qmin, input int qmax,
                                            output int acc, output int y);
  import "DPI-C" function int rq_dpi_requant(input int acc, input int method, input int m, input int shift,
                                             input int zy, input int qmin, input int qmax, output int y);
  import "DPI-C" function int rq_dpi_cpu_paths();
endpackage
