"""The one explain-trace module (refquant/trace.py): Step, note, show, render, and the old names
in refquant.requant kept for one release."""
from fractions import Fraction

from refquant import ops, requant, trace


def test_requant_reexports_the_same_objects():
    for name in ("Step", "note", "show", "render"):
        assert getattr(requant, name) is getattr(trace, name)


def test_note_appends_only_to_a_list_and_returns_the_value():
    t = []
    assert trace.note(t, "acc", "int32 accumulator", 7) == 7
    assert t == [trace.Step("acc", "int32 accumulator", 7)]
    assert trace.note(None, "acc", "", Fraction(1, 3)) == Fraction(1, 3)


def test_show_and_render():
    assert trace.show(Fraction(6, 2)) == "3" and trace.show(-5) == "-5"
    assert trace.show(Fraction(1, 3)).startswith("1/3 (~0.3333")
    text = trace.render([trace.Step("m", "src", 1), trace.Step("result", "clamp", Fraction(-3))])
    assert text.splitlines() == [f"{'m':<6}  {'1':<32}  src", f"{'result':<6}  {'-3':<32}  clamp"]
    assert trace.render([]) == ""


def test_ops_explain_and_explain_requantize_trace_in_steps():
    p = requant.derive_params("tflite_double", Fraction(1, 2), Fraction(1, 2), Fraction(1))
    steps = requant.explain_requantize(-10, "tflite_double", p, 0, "int8")
    assert all(isinstance(s, trace.Step) for s in steps) and steps[-1].value == -3
    ex = ops.explain("matmul_integer", [[1, 2]], [[3], [4]], (0, 0))
    assert ex.steps[-1].value == 11 and ex.text == trace.render(ex.steps)
