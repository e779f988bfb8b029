"""What the audit modules share: progress on stderr, the oracle / fast-path limits, and the error a fast path raises when it disagrees with the oracle.
"""

import sys
import time

ORACLE_ELEMENTS = 20_000             # at most this many outputs computed wholly by the oracle


ORACLE_MACS = 400_000                # ... and at most this many multiply-adds


UNIQUE_CAP = 4096                    # oracle-only candidates: distinct values evaluated (else a sample)


CONFIRM = 48                         # elements per vectorised candidate checked against the oracle


class OracleDisagreement(RuntimeError):
    """A fast path (C kernel or numpy) disagreed with the oracle: a refquant bug, never user error."""


class Progress:
    def __init__(self, enabled=None):
        self.enabled = sys.stderr.isatty() if enabled is None else enabled
        self.t0 = time.perf_counter()

    def __call__(self, text):
        if self.enabled:
            sys.stderr.write(f"\r\x1b[K[audit {time.perf_counter() - self.t0:6.2f}s] {text}")
            sys.stderr.flush()

    def done(self):
        if self.enabled:
            sys.stderr.write("\r\x1b[K")
            sys.stderr.flush()


def _quiet(_text):
    return None
