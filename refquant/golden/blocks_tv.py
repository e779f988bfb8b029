"""The .tv lines of the golden 'blocks' suite: one GGUF block per line, as stored.

gguf_quantize lines: '<the block's binary32 inputs, 8 hex digits each, in order> <the block's bytes>'.
gguf_dequantize lines: '<the block's bytes> <the binary32 bits of every element, 8 hex digits each>'.
Bytes are written in file order (the first byte first).  Every expected word is computed by
refquant.gguf (the exact model of ggml's reference quantizers and dequantizers; docs/llm-formats.md).
"""

from .. import formats, gguf
from ..errors import FormatFileError

OPS = ("gguf_quantize", "gguf_dequantize")
PROFILE_SOURCE = {"ggml_ref": "ggml-quants.c quantize_row_*_ref / dequantize_row_* (ggml 2025), as refquant/gguf.py "
                              "models them"}


def words_hex(bits):
    """binary32 bit patterns as one word of 8 hex digits each."""
    return "".join(f"{b:08x}" for b in bits)


def _bits(word, n):
    if len(word) != 8 * n:
        raise FormatFileError(f"expected {n} binary32 values ({8 * n} hex digits), got {len(word)} digits")
    return [int(word[i:i + 8], 16) for i in range(0, len(word), 8)]


def quantize_line(kind, bits):
    """One gguf_quantize line for a block given as binary32 bit patterns."""
    values = [formats.decode("fp32", b) for b in bits]
    return f"{words_hex(bits)} {gguf.quantize_block(kind, values).hex()}"


def dequantize_line(kind, data):
    """One gguf_dequantize line for a block given as its bytes."""
    return f"{bytes(data).hex()} {words_hex(gguf.dequantize_block(kind, bytes(data)))}"


def expected_line(op, params, words):
    """The line the model writes for the input word of a stored line (for verification)."""
    kind = params["format"]
    n, size = gguf.BLOCKS[kind]
    if op == "gguf_quantize":
        return quantize_line(kind, _bits(words[0], n))
    if len(words[0]) != 2 * size:
        raise FormatFileError(f"a {kind} block is {size} bytes ({2 * size} hex digits), got {len(words[0])} digits")
    return dequantize_line(kind, bytes.fromhex(words[0]))
