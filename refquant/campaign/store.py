"""The campaign store: one directory, one small JSON record per finished task, each written atomically
(a temporary file in the same directory, fsync, rename), so a killed campaign leaves only whole
records and a resumed one skips exactly the finished tasks (a task's record has a fixed name, so a
task that ran twice is counted once).

Layout: DIR/campaign.json (the validated spec, refquant's version, when it was created),
DIR/tasks/<index // 1000>/<index>.json (the records), DIR/runs.jsonl (one line per run: start,
workers, dashboard), DIR/failures/<n>/ (the shrunk reproducers, written by the shrinker).
"""

import json
import os
import tempfile
import time

from .. import __version__
from ..errors import FormatFileError, InvalidValueError
from .spec import canonical

META = "campaign.json"


def atomic_write(path, text):
    d = os.path.dirname(path) or "."
    os.makedirs(d, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=d)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


class Store:
    def __init__(self, root):
        self.root = root

    # -- creation and opening -------------------------------------------------------------------
    def create_or_resume(self, spec, resume, spec_path=None):
        """Start a new campaign here, or (``resume``) continue the one here with the same spec."""
        meta = os.path.join(self.root, META)
        if os.path.exists(meta):
            old = self.meta()
            if not resume:
                raise InvalidValueError(f"store {self.root} already holds campaign {old['spec']['name']!r}; "
                                        "expected --resume to continue it, or a new --store directory")
            if canonical(old["spec"]) != canonical(spec):
                raise InvalidValueError(f"store {self.root} holds a campaign with a different spec; expected the "
                                        "same spec file (and seed) to resume, or a new --store directory")
            return
        if os.path.isdir(self.root) and os.listdir(self.root):
            raise InvalidValueError(f"store {self.root} is not empty and holds no campaign; expected a new or "
                                    "empty directory")
        atomic_write(meta, json.dumps({"spec": spec, "spec_path": spec_path, "refquant": __version__,
                                      "created": time.time()}, indent=1))

    def meta(self):
        path = os.path.join(self.root, META)
        try:
            with open(path, encoding="utf-8") as f:
                return json.load(f)
        except FileNotFoundError:
            raise FormatFileError(f"{self.root} is not a campaign store (no {META}); expected the --store "
                                  "directory of 'refquant campaign run'") from None
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise FormatFileError(f"{path}: not valid JSON ({exc})") from None

    # -- records ------------------------------------------------------------------------------------
    def record_path(self, index):
        return os.path.join(self.root, "tasks", str(index // 1000), f"{index}.json")

    def write(self, rec):
        rec = dict(rec, finished=time.time())
        atomic_write(self.record_path(rec["task"]), json.dumps(rec, separators=(",", ":")))

    def done(self):
        """The task indices that have a record."""
        out = set()
        tdir = os.path.join(self.root, "tasks")
        if not os.path.isdir(tdir):
            return out
        for sub in os.listdir(tdir):
            for name in os.listdir(os.path.join(tdir, sub)):
                if name.endswith(".json") and not name.startswith("."):
                    out.add(int(name[:-5]))
        return out

    def records(self):
        """Every record, by task index (an unreadable record is reported, never skipped silently)."""
        out = []
        for i in sorted(self.done()):
            path = self.record_path(i)
            try:
                with open(path, encoding="utf-8") as f:
                    out.append(json.load(f))
            except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                raise FormatFileError(f"{path}: not valid JSON ({exc}); delete it and resume to rerun "
                                      "the task") from None
        return out

    # -- runs and failures ----------------------------------------------------------------------
    def log_run(self, info):
        with open(os.path.join(self.root, "runs.jsonl"), "a", encoding="utf-8") as f:
            f.write(json.dumps(dict(info, started=time.time())) + "\n")

    def runs(self):
        path = os.path.join(self.root, "runs.jsonl")
        if not os.path.exists(path):
            return []
        with open(path, encoding="utf-8") as f:
            return [json.loads(line) for line in f if line.strip()]

    def failures_dir(self):
        return os.path.join(self.root, "failures")
