"""Fast numpy forms of the block formats of the spec layer (``refquant.gguf``), proven equal to it.

``refquant.gguf`` is the definition (exact binary32 operations through ``formats``, one block at a
time); ``refquant.blocks.gguf`` computes the same bytes and bits for whole tensors with numpy
binary32 arithmetic (each numpy float32 operation is one IEEE operation, rounded once, as the C
source's).  tests/test_gguf.py proves them equal on random blocks, ties and signed zeros.
"""

from .gguf import dequantize, quantize, vec_dot  # noqa: F401
