// rq_dot: an int8 dot-product unit with an int32 accumulator and TFLite-style requantization.
//
// Synthesizable Verilog-2005 (Icarus Verilog 11, Verilator 5). One transaction:
//   start                 clears the accumulator
//   beat_valid (K times)  acc = step(acc + (a - za) * (b - zb))          (docs/gemm-contract.md §2)
//   finish                acc_out = step(acc + bias);  y = requant(acc_out) + zy, clamped to int8
// step() saturates (SATURATE_ACC = 1) or wraps (0) at int32, exactly the contract's policies.
// requant() is TFLite's MultiplyByQuantizedMultiplier with (m, shift), shift > 0 meaning a left shift:
//   DOUBLE_ROUND = 0: (acc*m + 2^(T-1)) >>> T, T = 31 - shift          (refquant method tflite_single)
//   DOUBLE_ROUND = 1: SRDHM(acc << max(shift,0), m), then RoundingDivideByPOT(max(-shift,0))
//                                                                        (refquant method tflite_double)
// Bug switches (each one is a fault refquant audit names, docs/hardware.md §5):
//   BUG_TRUNCATE   the final shift drops its rounding constant (floor)  -> <method>/floor_shift
//   BUG_WRAP       the output keeps its low 8 bits instead of saturating -> <method>/wrap_output
//   BUG_ZP_BEFORE  zy is added before the final rounding shift, unscaled -> <method>/zp_before_rounding
//   BUG_SHIFT_SWAP the shift's direction is swapped                     -> <method>/shift_swapped
module rq_dot #(
  parameter SATURATE_ACC = 1,
  parameter DOUBLE_ROUND = 0,
  parameter BUG_TRUNCATE = 0,
  parameter BUG_WRAP = 0,
  parameter BUG_ZP_BEFORE = 0,
  parameter BUG_SHIFT_SWAP = 0
) (
  input  wire               clk,
  input  wire               rst,
  input  wire               start,
  input  wire               beat_valid,
  input  wire signed [7:0]  a,
  input  wire signed [7:0]  b,
  input  wire signed [7:0]  za,
  input  wire signed [7:0]  zb,
  input  wire               finish,
  input  wire signed [31:0] bias,
  input  wire signed [31:0] m,
  input  wire signed [7:0]  shift,
  input  wire signed [7:0]  zy,
  output reg  signed [31:0] acc_out,
  output reg  signed [7:0]  y,
  output reg                done
);
  localparam signed [63:0] I32_MAX = 64'sd2147483647;
  localparam signed [63:0] I32_MIN = -64'sd2147483648;

  reg signed [31:0] acc;

  // one accumulator step under the overflow policy (v is exact: 64 bits never overflow here)
  function signed [31:0] step;
    input signed [63:0] v;
    begin
      if (SATURATE_ACC != 0 && v > I32_MAX) step = I32_MAX[31:0];
      else if (SATURATE_ACC != 0 && v < I32_MIN) step = I32_MIN[31:0];
      else step = v[31:0];
    end
  endfunction

  // v / 2^n rounded: half up (single), half away from zero (double), or floor (BUG_TRUNCATE)
  function signed [63:0] rshift;
    input signed [63:0] v;
    input integer n;
    input integer away;
    reg signed [63:0] mask, rem, thr;
    begin
      if (n <= 0) rshift = v;
      else if (BUG_TRUNCATE != 0) rshift = v >>> n;
      else if (away == 0) rshift = (v + (64'sd1 <<< (n - 1))) >>> n;
      else begin
        mask = (64'sd1 <<< n) - 64'sd1;
        rem = v & mask;
        thr = (mask >>> 1) + ((v < 0) ? 64'sd1 : 64'sd0);
        rshift = (v >>> n) + ((rem > thr) ? 64'sd1 : 64'sd0);
      end
    end
  endfunction

  function signed [63:0] requant;
    input signed [31:0] x;
    integer s, left, right;
    reg signed [63:0] pre, h, xs;
    begin
      s = BUG_SHIFT_SWAP != 0 ? -shift : shift;
      pre = BUG_ZP_BEFORE != 0 ? $signed({{56{zy[7]}}, zy}) : 64'sd0;
      if (DOUBLE_ROUND == 0) begin
        requant = rshift($signed(x) * $signed(m) + pre, 31 - s, 0);
      end else begin
        left = s > 0 ? s : 0;
        right = s < 0 ? -s : 0;
        xs = 64'sd0;
        xs[31:0] = x <<< left;                                    // wrap32(acc << left)
        xs = $signed({{32{xs[31]}}, xs[31:0]});
        if (xs == I32_MIN && m == I32_MIN[31:0]) h = I32_MAX;     // SRDHM's one saturation
        else h = (xs * $signed(m) + (64'sd1 <<< 30)) >>> 31;
        requant = rshift(h + pre, right, 1);
      end
    end
  endfunction

  wire signed [63:0] prod = ($signed(a) - $signed(za)) * ($signed(b) - $signed(zb));
  wire signed [31:0] acc_b = step($signed(acc) + $signed(bias));
  wire signed [63:0] zy64 = $signed({{56{zy[7]}}, zy});
  wire signed [63:0] r = requant(acc_b) + ((BUG_ZP_BEFORE != 0) ? 64'sd0 : zy64);
  wire signed [7:0] y_next = (BUG_WRAP != 0) ? r[7:0] : (r > 127 ? 8'sd127 : (r < -128 ? -8'sd128 : r[7:0]));

  always @(posedge clk) begin
    done <= 1'b0;
    if (rst || start) acc <= 32'sd0;
    else if (beat_valid) acc <= step($signed(acc) + prod);
    if (finish) begin
      acc_out <= acc_b;
      y <= y_next;
      done <= 1'b1;
    end
  end
endmodule
