"""Tensor files: the one element-type vocabulary (``dtypes``) that every reader and writer uses.

Two file dialects share it: golden sets' header-checked hex files (refquant.golden.tensors,
docs/golden-format.md) and the audit's user dumps (.npy, ``$readmemh`` hex, raw bytes;
refquant.audit.tensors).  A dtype may be spelled three ways, all accepted where a user names one:
the short tensor-file name (``i8``, ``f32``, ``e4m3fn``), refquant's type or format name
(``int8``, ``fp32``, ``fp8_e4m3fn``) and, for the types numpy holds as values, numpy's name
(``float32``, ``float16``)."""

from .dtypes import DTYPES, DType, lookup

__all__ = ["DTYPES", "DType", "lookup"]
