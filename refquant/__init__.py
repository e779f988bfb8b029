"""refquant: the bit-exact reference for integer and low-precision quantization.

The rule of the house (docs/architecture.md): every top-level module is the executable spec --
formats, rounding, integers, fixedpoint, profiles, backends, qparams, quantize, fastquant,
requant, ops, errors -- imports only the standard library (``quantize`` converts numpy arrays at
its API edge only) and computes with ``int`` and ``fractions.Fraction``.  Subpackages
(``calibrate``, ``audit``, ``peers``, ``golden``, ``kernel`` (the C twin), ``cli``) are tooling
around the spec; the spec imports none of them.  tests/test_architecture.py enforces the rule.
"""

__version__ = "0.1.0"
