"""Audit device outputs, verify backends, explain one element: ``refquant audit|verify|explain|check``.

    refquant audit case.json --actual y.hex [--json] [--report DIR]   # where and why a dump differs
    refquant explain case.json --index 3,5                           # one element, every step
    refquant explain --golden conv:2 --index 0,1,0,0                 # a conv element: window, taps, rounding
    refquant verify onnxruntime|torch|tosa|onnx|kernel [--json]       # conformance table of a backend
    refquant check                                                  # kernel + every installed backend

Library use: ``load_case`` / ``make_case`` -> ``audit(case, actual)`` -> dict; ``diagnose`` (its
``['diagnosis']``), ``rank_candidates`` (the same as a typed ``Ranking`` of ``CandidateRow``);
``explain_element``; ``refquant.peers.cli.run_backend``.  See docs/audit.md.  The command line
(arguments and commands) is refquant/cli/audit.py and refquant/cli/verify.py.
"""

from . import report, tensors  # noqa: F401
from .core import (OPS, CandidateRow, Case, Progress, Ranking, audit, diagnose, expected,  # noqa: F401
                   explain_element, load_case, make_case, params_for, rank_candidates)
