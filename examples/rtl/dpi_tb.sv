// A SystemVerilog testbench of rq_dot with refquant's C twin as the reference model through DPI-C:
// no Python in the loop. Each transaction's beats are pushed to the DUT and to rq_dpi_push; after
// `finish`, rq_dpi_finish gives the expected int32 accumulator and int8 output.
//
//   $ refquant dpi build --out dpi
//   $ verilator --binary --timing -Wno-fatal -Wno-WIDTH -CFLAGS -std=c++20 --top-module dpi_tb \
//       dpi/refquant_dpi_pkg.sv rq_dot.v dpi_tb.sv dpi/librefquant_dpi.a -LDFLAGS "-lm -lpthread"
//   $ obj_dir/Vdpi_tb +N=100000
//
// examples/rtl/run_dpi.py does this (and passes the bug switches as -G parameters).
module dpi_tb;
  import refquant_dpi_pkg::*;
  parameter int DOUBLE_ROUND = 0;
  parameter int BUG_TRUNCATE = 0, BUG_WRAP = 0, BUG_ZP_BEFORE = 0, BUG_SHIFT_SWAP = 0;
  parameter int K = 8;
  logic clk = 0, rst = 1, start = 0, beat_valid = 0, finish = 0;
  logic signed [7:0] a = 0, b = 0, za = 3, zb = -2, zy = -5, shift = -7;
  logic signed [31:0] bias = 0, m = 1610612736;
  wire signed [31:0] acc_out;
  wire signed [7:0] y;
  wire done;
  int n, i, k, rc, eacc, ey, mism = 0;

  rq_dot #(.SATURATE_ACC(1), .DOUBLE_ROUND(DOUBLE_ROUND), .BUG_TRUNCATE(BUG_TRUNCATE), .BUG_WRAP(BUG_WRAP),
           .BUG_ZP_BEFORE(BUG_ZP_BEFORE), .BUG_SHIFT_SWAP(BUG_SHIFT_SWAP)) dut (
    .clk(clk), .rst(rst), .start(start), .beat_valid(beat_valid), .a(a), .b(b), .za(za), .zb(zb),
    .finish(finish), .bias(bias), .m(m), .shift(shift), .zy(zy), .acc_out(acc_out), .y(y), .done(done));

  always #5 clk = ~clk;

  initial begin
    if (!$value$plusargs("N=%d", n)) n = 1000;
    @(negedge clk) rst = 0;
    for (i = 0; i < n; i++) begin
      // every 16th transaction: a bias at the int32 edges (accumulator saturation), else +-2^16
      bias = (i % 16 == 5) ? 32'sh7fffff00 : (i % 16 == 9) ? 32'sh80000100 : $signed($urandom % 131072) - 65536;
      void'(rq_dpi_reset(0));
      start = 1;
      @(negedge clk) start = 0;
      beat_valid = 1;
      for (k = 0; k < K; k++) begin
        a = $urandom; b = $urandom;
        void'(rq_dpi_push(0, int'(a), int'(b)));
        @(negedge clk);
      end
      beat_valid = 0; finish = 1;
      @(negedge clk) finish = 0;
      rc = rq_dpi_finish(0, za, zb, bias, 1, DOUBLE_ROUND != 0 ? RQ_TFLITE_DOUBLE : RQ_TFLITE_SINGLE,
                         m, shift, zy, -128, 127, eacc, ey);
      if (rc != 0 || acc_out != eacc || int'(y) != ey) begin
        mism++;
        if (mism <= 5)
          $display("MISMATCH transaction %0d: acc expected %0d actual %0d, y expected %0d actual %0d (bias %0d, rc %0d)",
                   i, eacc, acc_out, ey, y, bias, rc);
      end
    end
    $display("dpi_tb: %0d transactions, %0d mismatches", n, mism);
    if (mism != 0) $fatal(1, "dpi_tb: the DUT differs from refquant's reference model");
    $finish;
  end
endmodule
