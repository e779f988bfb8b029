"""Peers: the conformance tables of ``refquant verify PEER`` and ``refquant check``.

Every peer (an installed runtime, reference implementation or the C kernel) runs the same small
deterministic single-op cases (``cases``) and the shipped golden vectors; each row compares the
peer with the *spec* result computed by the oracle and is one of (``conformance``):

    pass        bit-identical to the spec result
    known       differs from the spec exactly as a documented deviation of that peer
                (the row names it and cites the note; the peer equals the deviation's model
                on every element, so the deviation is reproduced, not assumed)
    differ      differs, and no documented deviation explains it: a finding
    unsupported the peer has no kernel for this op/type (its error message is the note)

The named deviations (name, text, the versions they were measured on) are data in the backend
table, ``refquant/backends.py``; the models that compute them live in the adapters here: one
module per peer (``kernel``, ``onnxruntime``, ``onnx``, ``torch``, ``tosa``), the ONNX graph
building both ONNX peers share (``onnx_common``, ``onnx_rows``, ``onnx_golden``), the pins and
installed versions (``versions``) and the two commands (``cli``).

Exit codes: 0 all pass, 1 any known or differ row (``--allow-known`` / ``check``: only differ),
2 unknown or missing backend.
"""
