"""Splitting one GEMM over threads: output rectangles, the ``rq_gemm`` structs of each (a plan),
running a plan on the C kernel's own pool, and the per-M plan cache of a prepared op.
"""

import os
import threading
from dataclasses import dataclass

from ._lib import PATH_NAMES, check_status, ffi, lib, local

CPUS = os.cpu_count() or 1
SPLIT_MIN = 1 << 21   # operations (2*M*N*K) below which a call is not split over threads: A/B in one
# process on the 2-core AMD EPYC (2 threads, 10 interleaved rounds), 2^24 -> 2^21: 128^3 7.6 -> 5.7 us,
# 49 x 960 x 160 (mv2 1x1 at 7x7) 23.0 -> 18.2 us, 64 x 128 x 128 4.9 -> 4.3 us; 2^20 gained nothing
# (64 x 64 x 128 3.8 -> 3.8 us, 32 x 128 x 128 3.6 -> 3.9 us)
CHUNK_OPS = 1 << 28   # a column split cuts up to 4 pieces per thread of at least this many operations
PLANS_KEPT = 8        # Ms whose plans a prepared op keeps


def rectangles(m, n, k, threads):
    """Disjoint output rectangles (r0, r1, c0, c1), split at multiples of 32 (the AMX block).

    Columns are split when N > M (each thread then reads only its share of B, the
    larger operand), rows otherwise (each thread packs only its share of A).  A large column
    split is cut into up to 4 pieces per thread (>= CHUNK_OPS operations each), which the
    pool's threads claim one at a time (csrc/pool.c): a thread that starts late or runs slower
    (another process on its CPU) then takes fewer pieces instead of delaying the whole call."""
    if threads <= 1 or 2 * m * n * max(k, 1) < SPLIT_MIN:
        return [(0, m, 0, n)]
    if m >= 32 * threads and not (n > m and n >= 32 * threads):
        blocks = -(-m // 32)
        cuts = [min(m, 32 * (blocks * t // threads)) for t in range(threads + 1)]
        return [(cuts[t], cuts[t + 1], 0, n) for t in range(threads) if cuts[t] < cuts[t + 1]]
    if n >= 32 * threads:
        blocks = -(-n // 32)
        pieces = min(blocks, threads * max(1, min(4, 2 * m * n * max(k, 1) // (threads * CHUNK_OPS))))
        cuts = [min(n, 32 * (blocks * t // pieces)) for t in range(pieces + 1)]
        return [(0, m, cuts[t], cuts[t + 1]) for t in range(pieces) if cuts[t] < cuts[t + 1]]
    return [(0, m, 0, n)]


@dataclass
class Plan:
    """One rq_gemm per rectangle (copies of a template with m and the rectangle set)."""
    structs: object        # rq_gemm[count]
    pointers: object       # rq_gemm *[count], or None for one rectangle
    count: int
    path: object = None    # a prepared op's plan: the path its first call ran (PlanCache)


def make_plan(template, m, rects, disposable=False):
    """The plan of an M x N output split into ``rects``.  A ``disposable`` template (one call's
    own) is itself the plan of a single rectangle."""
    if disposable and len(rects) == 1:
        g = template
        g.m, (g.row_begin, g.row_end, g.col_begin, g.col_end) = m, rects[0]
        return Plan(template, None, 1)
    structs = ffi.new("rq_gemm[]", len(rects))
    for i, (r0, r1, c0, c1) in enumerate(rects):
        structs[i] = template[0]
        g = structs[i]
        g.m = m
        g.row_begin, g.row_end, g.col_begin, g.col_end = r0, r1, c0, c1
    pointers = ffi.new("rq_gemm *[]", [structs + i for i in range(len(rects))]) if len(rects) > 1 else None
    return Plan(structs, pointers, len(rects))


def run_plan(plan, a, lda, c, overflow_count):
    """Points every struct at A, C and the counts (cffi pointers), runs the rectangles at once
    (C pool: the calling thread takes the first; the GIL is released) and returns the combined
    code (see rq_gemm_run_many).  Records the path the first rectangle ran."""
    structs = plan.structs
    for i in range(plan.count):
        g = structs[i]
        g.a, g.lda, g.c, g.overflow_count = a, lda, c, overflow_count
    if plan.count == 1:
        code = lib.rq_gemm_run(structs)
    else:
        code = lib.rq_gemm_run_many(plan.pointers, plan.count)
    local.path = PATH_NAMES.get(structs[0].path_used)
    check_status(code)
    return code


class PlanCache:
    """The plans of a prepared op, by M (only A, lda and C change between its calls).

    A plan's structs are templates that a call only reads (rq_gemm_run_at copies them and sets A,
    lda and C in the copies), so concurrent callers share them.  The path a plan runs depends only
    on the op and M (rq_choose_path reads the op's types, zero points, bias, policy and path), so
    its first call records it and later calls skip that write."""

    def __init__(self, template, n, k, threads):
        self._template, self._n, self._k, self._threads = template, n, k, threads
        self._lock, self._plans = threading.Lock(), {}

    def run(self, m, a, lda, c):
        plan = self._plans.get(m)
        if plan is None:
            plan = make_plan(self._template, m, rectangles(m, self._n, self._k, self._threads))
            with self._lock:
                if len(self._plans) < PLANS_KEPT:
                    plan = self._plans.setdefault(m, plan)
        if plan.path is None:
            used = ffi.new("int32_t *")
            code = lib.rq_gemm_run_at(plan.structs, plan.count, a, lda, c, used)
            if code >= 0:
                plan.path = PATH_NAMES.get(used[0])
            local.path = PATH_NAMES.get(used[0])
        else:
            code = lib.rq_gemm_run_at(plan.structs, plan.count, a, lda, c, ffi.NULL)
            local.path = plan.path
        if code < 0:
            check_status(code)
        return code
