"""Moved: ``refquant verify`` / ``refquant check`` live in ``refquant.peers`` (one adapter per peer).

This module re-exports the old public names for one release; import from ``refquant.peers.*``
instead (``conformance``: Row, judge, table, summary; ``cases``; ``versions``: PEERS,
installed_version, install_hint, MissingBackend; ``cli``: run_backend, cmd_verify, cmd_check).
The named deviations and the versions they were measured on are data in ``refquant.backends``.
"""

from ..peers.cases import FP8_X, QUANT_X, conv_tie_case, mm_case, near_tie_case, oracle_acc, oracle_qlinear, tie_inputs
from ..peers.cli import ALIASES, RUNNERS, cmd_check, cmd_verify, peer_lines, peer_summary, run_backend
from ..peers.conformance import (DIFFER, KNOWN, PASS, UNSUPPORTED, Row, golden_index, golden_pairs, judge,
                                 judge_golden, summary, table)
from ..peers.kernel import backend_kernel, kernel_lines
from ..peers.onnx import backend_onnx
from ..peers.onnx_golden import GOLDEN_Q_TARGETS
from ..peers.onnxruntime import FP8_DEVIATIONS, FP16_INF, backend_onnxruntime
from ..peers.torch import backend_torch
from ..peers.tosa import backend_tosa
from ..peers.versions import (PEERS, TORCH_CPU_INDEX, MissingBackend, Peer, deviation, deviations, install_hint,
                              installed_version, measured_text)

BACKENDS = RUNNERS
# The old constants, now read from the backend table (refquant/backends.py).
DEVIATIONS = {p: deviations(p) for p in PEERS}
FP8_KNOWN = {fmt: (name, deviation("onnxruntime", name).text) for fmt, name in FP8_DEVIATIONS.items()}
ORT_FP16_INF = (FP16_INF, deviation("onnxruntime", FP16_INF).text)

__all__ = ["ALIASES", "BACKENDS", "DEVIATIONS", "DIFFER", "FP8_KNOWN", "FP8_X", "GOLDEN_Q_TARGETS", "KNOWN",
           "ORT_FP16_INF", "PASS", "PEERS", "QUANT_X", "TORCH_CPU_INDEX", "UNSUPPORTED", "MissingBackend", "Peer",
           "Row", "backend_kernel", "backend_onnx", "backend_onnxruntime", "backend_torch", "backend_tosa",
           "cmd_check", "cmd_verify", "conv_tie_case", "golden_index", "golden_pairs", "install_hint",
           "installed_version", "judge", "judge_golden", "kernel_lines", "measured_text", "mm_case", "near_tie_case",
           "oracle_acc", "oracle_qlinear", "peer_lines", "peer_summary", "run_backend", "summary", "table",
           "tie_inputs"]
