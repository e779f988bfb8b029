"""refquant.campaign -- verification campaigns: millions to billions of seeded cases run on a device
under test (a peer, the C kernel, an external simulator or board), checked against refquant,
stored one record per task, resumable, with every distinct failure shrunk to a minimal reproducer.

Modules: ``spec`` (the TOML spec and its checks), ``cases`` ((seed, task) -> case), ``duts``
(the device adapters and the ``register`` hook), ``reference`` (the expected outputs, confirmed
against the oracle on a sample), ``task`` (one task -> one record; plain Python), ``store``
(atomic records), ``engine`` (serial, or Dask when asked), ``shrink``, ``repro`` (a case as
files), ``report``.  The command line is refquant/cli/campaign.py; the guide docs/campaigns.md.
"""

from .duts import Dut, register
from .engine import run
from .report import report, shrink_failures, totals
from .spec import load, validate
from .task import build_case, check_case, run_task

__all__ = ["load", "validate", "run", "run_task", "build_case", "check_case", "report", "totals", "shrink_failures",
           "Dut", "register"]
