"""refquant: the bit-exact reference for integer and low-precision quantization.

The rule of the house (docs/architecture.md): every top-level module is the executable spec --
formats, rounding, integers, fixedpoint, profiles, backends, qparams, quantize, fastquant,
requant, ops, errors -- imports only the standard library (``quantize`` converts numpy arrays at
its API edge only) and computes with ``int`` and ``fractions.Fraction``.  Subpackages
(``calibrate``, ``audit``) are numpy-based tooling around the spec; the spec imports none of
them.  ``kernel`` (the C twin), ``golden`` and ``cli`` are tooling that still sit at the top
level; tests/test_architecture.py names them and enforces the rest.
"""

__version__ = "0.1.0"
