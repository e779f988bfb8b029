"""Golden vector sets: a documented, language-neutral format; deterministic generation from the
oracle; verification; exports.  The format is specified in docs/golden-format.md.

    golden/<suite>/manifest.json          Wycheproof-style: notes, testGroups, tests, files + sha256
    golden/<suite>/tc0007_A.i8.hex         $readmemh-ready text hex, one word per element
    golden/<suite>/tc0007_Y.i8.hex         expected output: always a separate file
    golden/formats/<fmt>_<op>....tv       TestFloat-style lines "<in> <out> <flags>"
    golden/schema/manifest.schema.json     JSON Schema (draft 2020-12) of every manifest

Generation and verification use only the standard library and the oracle modules; numpy is
needed only to hand decoded tensors out as arrays and for the C-kernel cross-check.

Python API (for verify/audit tools):

    root = default_root()
    gset = load_set(root / "matmul")          # GoldenSet: .manifest, .path, .cases()
    for case in gset.cases(numpy=True):      # GoldenCase: tc_id, name, op, result, flags, params,
        case.inputs["A"], case.expected["Y"]  #       group, derived, inputs, expected, files
    report = verify(root)                     # {sets, tests, checked, mismatches: [...]}

The package (the data it reads and writes lies in the top-level golden/, installed as
refquant.golden_data): ``tensors`` the tensor-file dialect; ``schema`` the manifest schema, its
validator and the flags; ``compute`` one test from params and inputs; ``suites/`` one builder per
suite; ``store`` generation and atomic writes; ``load`` finding, reading and loading sets;
``verify`` the oracle and C-kernel checks; ``export`` .npy / C header / .bin.  The ``refquant golden``
command line is refquant/cli/golden.py.
"""

from ..profiles import PROFILES
from .compute import COMPUTE, ERROR_OUTCOMES, Tensor, run_test, tv_decode_line, tv_encode_line
from .export import EXPORT_FORMATS, out_path, output_root, c_header, export
from .load import (MAX_JSON_BYTES, SHIPPED_MANIFEST_SHA256, _PACKAGED_GOLDEN, _REPO_GOLDEN, Case, GoldenCase,
                   GoldenSet, decode_text, default_root, find_sets, is_shipped_root, load_set, parse_json,
                   read_file, set_location, shipped_difference, shipped_root_holding, to_numpy)
from .schema import FORMAT_VERSION, NOTES, OPS, ROLES, SCHEMA, SCHEMA_NAME, SUITE_NAMES, schema_errors
from .store import atomic_write, _sha, build_set, manifest_text, write_schema, write_set
from .suites import SUITES
from .suites.formats import FORMAT_NAMES
from .tensors import DTYPES, DType, format_tensor, npy_bytes, parse_tensor, raw_bytes, short_dtype
from .verify import _kernel_applies, kernel_matmul, verify, verify_set

__all__ = ["COMPUTE", "DTYPES", "DType", "ERROR_OUTCOMES", "EXPORT_FORMATS", "FORMAT_NAMES", "FORMAT_VERSION",
           "MAX_JSON_BYTES", "NOTES", "OPS", "PROFILES", "ROLES", "SCHEMA", "SCHEMA_NAME",
           "SHIPPED_MANIFEST_SHA256", "SUITES", "SUITE_NAMES", "Case", "GoldenCase", "GoldenSet", "Tensor",
           "build_set", "c_header", "decode_text", "default_root", "export", "find_sets", "format_tensor",
           "is_shipped_root", "kernel_matmul", "load_set", "manifest_text", "npy_bytes", "parse_json",
           "parse_tensor", "raw_bytes", "read_file", "run_test", "schema_errors", "set_location",
           "shipped_difference", "shipped_root_holding", "short_dtype", "to_numpy", "tv_decode_line",
           "tv_encode_line", "verify", "verify_set", "write_schema", "write_set",
           # private names other refquant modules, tests and bench use (monkeypatch the module that
           # owns one, e.g. golden.load._REPO_GOLDEN, golden.store.build_set)
           "_PACKAGED_GOLDEN", "_REPO_GOLDEN", "atomic_write", "_kernel_applies", "out_path", "output_root",
           "_sha"]
