// A Verilog testbench that reads refquant golden vectors with $readmemh.
//
// The .hex tensor files of a golden set (docs/golden-format.md §3) are plain $readmemh memories:
// one two's-complement word per line, as many hex digits as the type's width. This testbench loads
// an int8 input tensor and an int32 accumulator tensor into memories of those widths and prints
// every element as a signed decimal, so a script can compare them with the manifest's values.
//
// Icarus Verilog:
//   iverilog -g2005 -Ptb.N_A=<elements of A> -Ptb.N_ACC=<elements of acc> -o tb.vvp readmemh_tb.v
//   vvp -n tb.vvp +A=<path of the A .hex file> +ACC=<path of the acc .hex file>
//
// tests/test_golden.py runs it on the matmul vector "exact/zp_extremes" (negative operands and
// accumulators, so the signed read-back is exercised) and compares every element.
module tb;
  parameter N_A = 1;                    // elements of the int8 tensor
  parameter N_ACC = 1;                  // elements of the int32 tensor
  reg signed [7:0] a [0:N_A - 1];
  reg signed [31:0] acc [0:N_ACC - 1];
  reg [8*1024-1:0] a_path, acc_path;    // file names of up to 1024 characters
  integer i;
  initial begin
    if (!$value$plusargs("A=%s", a_path) || !$value$plusargs("ACC=%s", acc_path)) begin
      $display("usage: vvp tb.vvp +A=<A .hex file> +ACC=<acc .hex file>");
      $finish;
    end
    $readmemh(a_path, a);
    $readmemh(acc_path, acc);
    for (i = 0; i < N_A; i = i + 1) $display("A %0d", a[i]);
    for (i = 0; i < N_ACC; i = i + 1) $display("ACC %0d", acc[i]);
    $finish;
  end
endmodule
