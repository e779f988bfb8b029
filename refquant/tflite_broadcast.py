"""Which elements of a broadcasting TFLite binary op run the optimized kernels' vector blocks.

TFLite's optimized ADD / SUB / MUL kernels process 16 elements per vector step and the rest of a
row one by one, and the two paths round differently (refquant/tflite_ops.py).  Under broadcasting
the rows are not the flat output: ProcessBroadcastShapes folds the two shapes into a five-fold
loop (y0 .. y4), and BinaryBroadcastFiveFold calls the elementwise kernel once per run of y4
outputs (or, when y4 == 1, the scalar-broadcast kernel once per run of y3 outputs).  Shapes the
five-fold loop cannot express (kGenericBroadcast) run the reference BroadcastXxx6DSlow kernels.

Source read (never copied): LiteRT 2.3.0 tflite/kernels/internal/reference/process_broadcast_shapes.h,
optimized/optimized_ops.h BinaryBroadcastFiveFold.  Stdlib only.
"""

from .errors import ShapeError


def process_broadcast_shapes(shape0, shape1):
    """(category, (y0, y1, y2, y3, y4)): category "none" (same shape after left-padding with 1s),
    "first_fast" / "second_fast" (the five-fold loop, the named input broadcasting in its inner
    dimensions) or "generic" (the reference kernel)."""
    # Reproduces: LiteRT 2.3.0 reference/process_broadcast_shapes.h ProcessBroadcastShapes
    rank = max(len(shape0), len(shape1))
    e0 = (1,) * (rank - len(shape0)) + tuple(shape0)
    e1 = (1,) * (rank - len(shape1)) + tuple(shape1)
    if e0 == e1:
        return "none", (1, 1, 1, 1, 1)
    category = None
    for d0, d1 in zip(reversed(e0), reversed(e1)):
        if d0 != d1:
            if d0 != 1 and d1 != 1:
                raise ShapeError(f"shapes {tuple(shape0)} and {tuple(shape1)} do not broadcast")
            category = "first_fast" if d0 == 1 else "second_fast"
            break
    a, b = (e0, e1) if category == "first_fast" else (e1, e0)
    y, i = [1] * 5, rank - 1
    for slot, test in ((4, lambda i: a[i] == b[i]), (3, lambda i: a[i] == 1), (2, lambda i: a[i] == b[i]),
                       (1, lambda i: b[i] == 1), (0, lambda i: a[i] == b[i])):
        while i >= 0 and test(i):
            y[slot] *= max(a[i], b[i])
            i -= 1
    return ("generic" if i >= 0 else category), tuple(y)


def vector_lanes(shape0, shape1, n, block=16, fivefold=True):
    """For each of the n output elements (row-major), whether the optimized kernel computes it in a
    ``block``-wide vector step: per kernel call of run length L, the first L - L mod block
    elements.  A generic broadcast runs the reference kernel: no element is vectorized (nor any
    broadcast at all when ``fivefold`` is False: the op sends every broadcast to the reference)."""
    # Reproduces: LiteRT 2.3.0 optimized_ops.h BinaryBroadcastFiveFold (runs of y4, or of y3 when y4 == 1)
    category, y = process_broadcast_shapes(shape0, shape1)
    if category == "generic" or (category != "none" and not fivefold):
        return [False] * n
    run = n if category == "none" else y[4] if y[4] > 1 else y[3]
    return [k % run < run - run % block for k in range(n)]
