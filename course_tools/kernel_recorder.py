"""The grader's recorder, run INSIDE a submission's kernel (sent as text, never imported there).

The grader (``course_tools.grade``) rewrites each test part so that every call of the course's
check functions goes to a :class:`Recorder` built by this file's text (with the text of
``course_utils/checks.py`` executed into a fresh namespace: nothing the student can shadow through
``sys.modules`` or ``course_utils.__path__``). Each call is judged here as before, for the student's
messages and the part's flow, AND recorded: its call site, its operands as float64 arrays, its
tolerances, the digest of the global random generators and whether a torch function mode was
active. :meth:`Recorder.save` writes the records to one file in a plain binary format (a JSON
header, then little-endian float64 data; no pickle), which the grader reads and judges in its own
process (``course_tools.verdict``) against the reference run of the solution.

This module imports nothing of the course; it needs torch and numpy (the kernel has them).
"""
import hashlib
import json
import operator
import random
import struct

import numpy as np
import torch

MAGIC = b"GRADEREC1"
MAX_VALUES = 16_000_000          # float64 values per part (128 MB); beyond: the record says "too large"
OPS = {"==": operator.eq, "!=": operator.ne, "<": operator.lt, "<=": operator.le, ">": operator.gt,
       ">=": operator.ge}


def _rng_digest():
    """A digest of what makes a test's inputs: the global random generators and the default dtype
    (under ``torch.set_default_dtype(torch.float64)`` a generator draws other numbers)."""
    h = hashlib.sha256()
    try:
        h.update(str(torch.get_default_dtype()).encode())
        h.update(torch.get_rng_state().numpy().tobytes())
        h.update(repr(np.random.get_state()[1][:8].tolist() + [np.random.get_state()[2]]).encode())
        h.update(repr(random.getstate()[1][:8]).encode())
    except Exception:  # noqa: BLE001 - a broken generator only makes the digest differ
        h.update(b"?")
    return h.hexdigest()[:16]


def _modes():
    try:
        return int(torch._C._len_torch_function_stack())
    except Exception:  # noqa: BLE001
        return -1


class Recorder:
    """The check functions of one test part, recording as they judge."""

    def __init__(self, path, checks_source, checks_file):
        ns = {"__name__": "course_utils.checks", "__package__": "course_utils", "__file__": checks_file}
        exec(compile(checks_source, checks_file, "exec"), ns)
        self.ck = ns
        self.CheckFailed = ns["CheckFailed"]
        self.fingerprint = ns["fingerprint"]
        self.claim = ns["claim"]
        self.path = path
        self.records = []
        self.values = []
        self.count = 0
        self.counts = {}
        self.too_large = False

    # ------------------------------------------------------------ recording
    def _record(self, site, kind, label, **fields):
        n = self.counts.get(site, 0)
        self.counts[site] = n + 1
        rec = {"site": site, "n": n, "kind": kind, "label": str(label)[:300], "rng": _rng_digest(),
               "modes": _modes()}
        rec.update(fields)
        self.records.append(rec)
        return rec

    def _value(self, x):
        """A value as a record field: {"k": kind, ...}; tensors and numbers become float64 data."""
        if x is None:
            return {"k": "none"}
        if isinstance(x, bool):
            return {"k": "bool", "v": x}
        if isinstance(x, str):
            return {"k": "str", "v": x[:200]}
        if isinstance(x, torch.dtype):
            return {"k": "str", "v": str(x)}
        if isinstance(x, torch.Size) or (isinstance(x, tuple) and all(isinstance(v, int) for v in x)):
            return {"k": "shape", "v": [int(v) for v in x]}
        number = isinstance(x, (int, float)) and not torch.is_tensor(x)
        try:
            with torch._C.DisableTorchFunction():
                t = torch.as_tensor(x.detach() if torch.is_tensor(x) else x, dtype=torch.float64)
                arr = t.cpu().numpy().astype("<f8", copy=False)
        except Exception:  # noqa: BLE001 - not numbers: the judge says so
            return {"k": "other", "v": type(x).__name__}
        if self.count + arr.size > MAX_VALUES:
            self.too_large = True
            return {"k": "large", "shape": list(arr.shape)}
        self.values.append(np.ascontiguousarray(arr).tobytes())
        off, self.count = self.count, self.count + arr.size
        return {"k": "number" if number else "tensor", "shape": list(arr.shape), "off": off, "n": int(arr.size)}

    # ------------------------------------------------------------ the check functions
    def check_close(self, site, own, actual, expected, name="result", rtol=1e-5, atol=1e-6, hint="", mistakes=None):
        self._record(site, "close", name, own=bool(own), actual=self._value(actual),
                     expected=self._value(expected), rtol=float(rtol), atol=float(atol))
        return self.ck["check_close"](actual, expected, name, rtol=rtol, atol=atol, hint=hint, mistakes=mistakes)

    def check_shape(self, site, own, x, shape, name="result", hint=""):
        got = tuple(x.shape) if hasattr(x, "shape") else None
        try:
            spec = [int(s) for s in shape]
        except (TypeError, ValueError):
            spec = None
        self._record(site, "shape", name, own=bool(own), actual=None if got is None else [int(s) for s in got],
                     expected=spec)
        return self.ck["check_shape"](x, shape, name, hint)

    def check_compare(self, site, own, left, op, right, what="", hint=""):
        cond = OPS[op](left, right)
        try:
            held = bool(cond)
        except Exception:  # noqa: BLE001 - as check() would: bool() of it raises
            held = None
        self._record(site, "compare", what, own=bool(own), op=op, left=self._value(left),
                     right=self._value(right), held=held)
        return self.ck["check"](cond, what, hint)

    def check_fn(self, site, own, fn_name, fn, a, b, kwargs, negate, what="", hint=""):
        cond = fn(a, b, **kwargs)
        cond = not cond if negate else cond
        ok_kw = {k: float(v) for k, v in kwargs.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
        self._record(site, "fn", what, own=bool(own), fn=fn_name, negate=bool(negate), left=self._value(a),
                     right=self._value(b), kwargs=ok_kw, other_kwargs=sorted(set(kwargs) - set(ok_kw)),
                     held=bool(cond))
        return self.ck["check"](cond, what, hint)

    def check(self, site, condition, what="", hint=""):
        try:
            held = bool(condition)
        except Exception:  # noqa: BLE001
            held = None
        self._record(site, "bool", what, held=held)
        return self.ck["check"](condition, what, hint)

    def guard(self, site, what, hint=""):
        rec = self._record(site, "guard", what, raised=True)
        return _Guard(self.ck["guard"](what, hint), rec)

    def passed(self, site, what=""):
        self._record(site, "passed", what)
        return self.ck["passed"](what)

    def failed(self, site, exc):
        """``raise checks.CheckFailed(...)`` in a test: recorded, then raised."""
        self._record(site, "failed", str(exc))
        return exc

    def bound(self, site, name):
        """A check function used as a value (not called in place): records with this site."""
        fn = getattr(self, name)
        if name in ("check_close", "check_shape"):
            return lambda *args, **kwargs: fn(site, True, *args, **kwargs)
        return lambda *args, **kwargs: fn(site, *args, **kwargs)

    # ------------------------------------------------------------ the file
    def save(self):
        header = json.dumps({"records": self.records, "count": self.count, "too_large": self.too_large}).encode()
        with open(self.path, "wb") as f:
            f.write(MAGIC + struct.pack("<Q", len(header)) + header)
            for chunk in self.values:
                f.write(chunk)


class _Guard:
    """``with guard(...)``: the course's guard, and whether its block raised."""

    def __init__(self, cm, rec):
        self.cm, self.rec = cm, rec

    def __enter__(self):
        return self.cm.__enter__()

    def __exit__(self, *exc):
        self.rec["raised"] = exc[0] is not None
        return self.cm.__exit__(*exc)

