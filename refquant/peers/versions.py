"""Peers at a version: the pins the project's facts were measured on, the installed version, and
the versions each named deviation was measured on (read from the backend table, refquant/backends.py)."""

import importlib
from dataclasses import dataclass

from .. import backends
from ..errors import InvalidValueError


@dataclass(frozen=True)
class Peer:
    dist: str      # the distribution whose installed version is reported (importlib.metadata)
    extra: str     # the refquant extra that installs it (pyproject.toml [project.optional-dependencies])
    pins: tuple    # the exact requirements the project's facts were measured on (= the extra's pins)
    rows: tuple = ()   # the backends.BACKENDS rows whose named deviations this peer's rows show


PEERS = {
    "onnxruntime": Peer("onnxruntime", "onnxruntime", ("onnxruntime==1.32.0", "onnx==1.21.0"), ("onnxruntime",)),
    "onnx": Peer("onnx", "onnx", ("onnx==1.21.0",), ("onnx_ref",)),
    "torch": Peer("torch", "torch", ("torch==2.13.0",), ("torch_x86", "torch_fbgemm", "torch_qnnpack", "torch_onednn")),
    "tosa": Peer("tosa-tools", "tosa", ("tosa-tools==2026.8.0",), ("tosa", "tosa_double_round")),
    "litert": Peer("ai-edge-litert", "litert", ("ai-edge-litert==2.3.0",),
                   ("litert_ref", "litert_optimized", "litert_xnnpack")),
    "qonnx": Peer("qonnx", "qonnx", ("qonnx==1.0.0",), ("qonnx",)),
    "openvino": Peer("openvino", "openvino", ("openvino==2026.4.1",), ("openvino_cpu", "openvino_cpu_fq_node")),
    "gguf": Peer("gguf", "gguf", ("gguf==0.19.0",), ("gguf_py",)),
    "ggml": Peer("pywhispercpp", "ggml", ("pywhispercpp==1.5.1",), ("ggml_x86_avx2", "ggml_generic_gcc_fma")),
    "tflm": Peer("tflite-micro", "tflm", ("tflite-micro==0.dev20261023182759",), ("tflite_micro",)),
}
TORCH_CPU_INDEX = "--index-url https://download.pytorch.org/whl/cpu"   # the CPU build, without CUDA packages


class MissingBackend(InvalidValueError):
    """The backend's package is not installed."""


def install_hint(peer):
    """How to install a peer at the version the project's facts were measured on."""
    p = PEERS[peer]
    direct = " ".join(f"'{pin}'" for pin in p.pins) + (f" {TORCH_CPU_INDEX}" if p.dist == "torch" else "")
    return f"pip install 'refquant[{p.extra}]' (or pip install {direct})"


def need(module, peer):
    """Import a peer's module, or raise MissingBackend with the install hint."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise MissingBackend(f"backend needs {module!r}, which is not installed: {install_hint(peer)}") from None


def deviation(peer, name, op=""):
    """The backends.Deviation row called ``name`` among the peer's backend rows."""
    rows = [backends.BACKENDS[b] for b in PEERS[peer].rows]
    for b in rows:
        if any(d.name == name for d in b.deviations):
            return b.deviation(name, op)
    return backends.get_backend(PEERS[peer].rows[0]).deviation(name, op)     # UnknownNameError naming them


def known(peer, name, model, op=""):
    """A ``judge`` model: (name, text, expected array) for the peer's named deviation."""
    return (name, deviation(peer, name, op).text, model)


def deviations(peer):
    """{name: measured_on} of every named deviation of a peer, in table order (one entry per name)."""
    out = {}
    for b in PEERS[peer].rows:
        for d in backends.BACKENDS[b].deviations:
            out.setdefault(d.name, tuple(d.measured_on))
    return out


def installed_version(peer):
    """The installed version of a peer's distribution, or None."""
    from importlib import metadata
    try:
        return metadata.version(PEERS[peer].dist)
    except metadata.PackageNotFoundError:
        return None


def release(version):
    """'2.13.0+cpu' -> '2.13.0': a local build label does not change what was measured."""
    return (version or "").split("+")[0]


def measured_text(r):
    """For a known row: on which peer versions its deviation was measured, and whether on this one."""
    if not r.peer:
        return ""
    dist = PEERS[r.peer].dist
    if not r.measured_on:
        return f"not recorded as measured on any {dist} version"
    on = f"measured on {dist} {', '.join(r.measured_on)}"
    if release(r.version) in r.measured_on:
        return on
    return f"{on}; NOT on the installed {r.version} (this run reproduces it there)"


def cpu_flags():
    """The CPU feature flags Linux reports (/proc/cpuinfo, e.g. 'avx2', 'avx512_vnni'): what decides which
    kernels a peer runs; an empty set elsewhere."""
    try:
        with open("/proc/cpuinfo") as f:
            return set(next(ln for ln in f if ln.startswith("flags")).split(":", 1)[1].split())
    except (OSError, StopIteration):
        return set()
