"""The users' row reader lives in refquant/backend_file.py; refquant.backends keeps its names
(load_file, register) and works whichever module is imported first."""
import subprocess
import sys

from refquant import backend_file, backends


def test_backends_keeps_the_reader_names():
    assert backends.load_file is backend_file.load_file
    assert callable(backends.register)


def test_reader_imported_first_in_a_fresh_interpreter(tmp_path):
    f = tmp_path / "npu.toml"
    f.write_text('[backend.npu_j]\nquantize = "tflite"\nops = { qlinear_matmul = "tflite_single" }\n')
    code = ("from refquant.backend_file import load_file\n"
            f"(row,) = load_file({str(f)!r})\n"
            "from refquant import backends\n"
            "backends.register([row])\n"
            "print(backends.get_backend('npu_j').method('qlinear_matmul'), row.user)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["tflite_single", "True"]
