"""Nested Python lists as tensors: their shape, their elements in row-major order, and back.

The spec layer holds tensors as nested lists of exact values (``int``, ``Fraction``); these
helpers are the one place that walks them generically.  Stdlib only.
"""


from .errors import ShapeError


def plain(x):
    """A numpy array or scalar (anything with ``dtype`` and ``tolist``) as nested Python lists;
    anything else unchanged.  Duck-typed: the spec layer does not import numpy."""
    # Reproduces: numpy ndarray.tolist (arrays read as nested lists)
    if hasattr(x, "dtype") and hasattr(x, "tolist") and not isinstance(x, (list, tuple, int, float)):
        return x.tolist()
    return x


def shape_of(x, name="tensor"):
    """The shape of a rectangular nested list (a number has shape ()); ShapeError if ragged."""
    # Reproduces: ONNX IR TensorShapeProto (a rectangular tensor)
    if not isinstance(x, (list, tuple)):
        return ()
    if not x:
        return (0,)
    inner = [shape_of(v, name) for v in x]
    if any(s != inner[0] for s in inner):
        raise ShapeError(f"{name} is ragged: its elements have shapes {sorted(set(inner))}")
    return (len(x),) + inner[0]


def shape(x):
    """The shape of a nested list, read along its first elements (a scalar has shape ())."""
    dims = []
    while isinstance(x, (list, tuple)):
        dims.append(len(x))
        x = x[0] if x else None
    return tuple(dims)


def flatten(x):
    """The elements of a nested list in row-major order (a scalar gives [x])."""
    if isinstance(x, (list, tuple)):
        return [v for item in x for v in flatten(item)]
    return [x]


def unflatten(flat, dims):
    """A nested list of shape ``dims`` holding ``flat`` in row-major order (the inverse of flatten)."""
    if not dims:
        return flat[0]
    if len(dims) == 1:
        return list(flat)
    step = len(flat) // dims[0] if dims[0] else 0
    return [unflatten(flat[i * step:(i + 1) * step], dims[1:]) for i in range(dims[0])]


def map_indexed(x, fn, index=()):
    """A nested list of the same shape holding fn(element, its index tuple)."""
    if isinstance(x, (list, tuple)):
        return [map_indexed(v, fn, index + (i,)) for i, v in enumerate(x)]
    return fn(x, index)
