"""refquant: the bit-exact reference for integer and low-precision quantization.

The oracle modules (formats, rounding, integers, fixedpoint, quantize, profiles,
ops, calibrate) import only the standard library and compute with ``int`` and
``fractions.Fraction``.  ``kernel`` (the C twin) and the CLI use numpy.
"""

__version__ = "0.1.0"
