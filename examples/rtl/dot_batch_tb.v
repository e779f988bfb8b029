// A $readmemh batch testbench for rq_dot: an M x K by K x N matrix product, one dot product per
// output (i, j), driven beat by beat; the outputs are dumped with $writememh for `refquant audit`.
//
//   iverilog -g2005 -o tb.vvp -Ptb.M=16 -Ptb.N=8 -Ptb.K=16 [-Ptb.DOUBLE_ROUND=1 -Ptb.BUG_TRUNCATE=1 ...] \
//       dot_batch_tb.v rq_dot.v
//   vvp -n tb.vvp +A=a.hex +B=b.hex +BIAS=bias.hex +Y=y.hex +ACC=acc.hex \
//       +ZA=3 +ZB=0 +ZY=-7 +MULT=1610612736 +SHIFT=-3
//   refquant audit case.json --actual y.hex          (examples/rtl/run_batch.py writes case.json)
//
// a.hex: M*K int8 words (row-major A), b.hex: K*N int8 words (row-major B), bias.hex: N int32 words.
module tb;
  parameter M = 1, N = 1, K = 1;
  parameter SATURATE_ACC = 1, DOUBLE_ROUND = 0;
  parameter BUG_TRUNCATE = 0, BUG_WRAP = 0, BUG_ZP_BEFORE = 0, BUG_SHIFT_SWAP = 0;
  reg clk = 0, rst = 1, start = 0, beat_valid = 0, finish = 0;
  reg signed [7:0] a, b, za, zb, zy, shift;
  reg signed [31:0] bias, mult;
  wire signed [31:0] acc_out;
  wire signed [7:0] y;
  wire done;
  reg signed [7:0] amem [0:M*K-1];
  reg signed [7:0] bmem [0:K*N-1];
  reg signed [31:0] biasmem [0:N-1];
  reg signed [7:0] ymem [0:M*N-1];
  reg signed [31:0] accmem [0:M*N-1];
  reg [8*1024-1:0] a_path, b_path, bias_path, y_path, acc_path;
  integer i, j, k, v, cycles;

  rq_dot #(.SATURATE_ACC(SATURATE_ACC), .DOUBLE_ROUND(DOUBLE_ROUND), .BUG_TRUNCATE(BUG_TRUNCATE),
           .BUG_WRAP(BUG_WRAP), .BUG_ZP_BEFORE(BUG_ZP_BEFORE), .BUG_SHIFT_SWAP(BUG_SHIFT_SWAP)) dut (
    .clk(clk), .rst(rst), .start(start), .beat_valid(beat_valid), .a(a), .b(b), .za(za), .zb(zb),
    .finish(finish), .bias(bias), .m(mult), .shift(shift), .zy(zy), .acc_out(acc_out), .y(y), .done(done));

  always #5 clk = ~clk;
  always @(posedge clk) cycles = cycles + 1;

  initial begin
    cycles = 0;
    if (!$value$plusargs("A=%s", a_path) || !$value$plusargs("B=%s", b_path) ||
        !$value$plusargs("BIAS=%s", bias_path) || !$value$plusargs("Y=%s", y_path)) begin
      $display("usage: vvp tb.vvp +A=a.hex +B=b.hex +BIAS=bias.hex +Y=y.hex [+ACC=acc.hex] +ZA= +ZB= +ZY= +MULT= +SHIFT=");
      $finish;
    end
    if (!$value$plusargs("ZA=%d", v)) v = 0; za = v;
    if (!$value$plusargs("ZB=%d", v)) v = 0; zb = v;
    if (!$value$plusargs("ZY=%d", v)) v = 0; zy = v;
    if (!$value$plusargs("SHIFT=%d", v)) v = 0; shift = v;
    if (!$value$plusargs("MULT=%d", v)) v = 1073741824; mult = v;
    $readmemh(a_path, amem);
    $readmemh(b_path, bmem);
    $readmemh(bias_path, biasmem);
    @(negedge clk) rst = 0;
    for (i = 0; i < M; i = i + 1)
      for (j = 0; j < N; j = j + 1) begin
        start = 1; @(negedge clk) start = 0;
        beat_valid = 1;
        for (k = 0; k < K; k = k + 1) begin
          a = amem[i*K + k]; b = bmem[k*N + j];
          @(negedge clk);
        end
        beat_valid = 0;
        bias = biasmem[j]; finish = 1;
        @(negedge clk) finish = 0;
        ymem[i*N + j] = y;
        accmem[i*N + j] = acc_out;
      end
    $writememh(y_path, ymem);
    if ($value$plusargs("ACC=%s", acc_path)) $writememh(acc_path, accmem);
    $display("rq_dot batch: %0d outputs, %0d cycles", M*N, cycles);
    $finish;
  end
endmodule
