"""Verdicts outside the student's process: the grader's side of the recorder.

Three pieces, used by ``course_tools.grade`` (this module imports numpy, never torch or the course):

* :func:`rewrite` turns a test part's source into the source the kernel runs: each call of a
  course check function (``checks.check_close(...)``, ``check(...)``, ``with guard(...)``,
  ``raise checks.CheckFailed(...)``, ...) becomes a call of the recorder (``course_tools/
  kernel_recorder.py``) with a call site ("visible check:3") and, for the value checks, whether its
  expected value may depend on the student's code (a static taint analysis of the part: names the
  part did not compute itself from the course's imports, and objects the student's code was given,
  are the student's). ``check(a == b, ...)``, ``check(torch.equal(a, b), ...)``,
  ``check(math.isclose(a, b), ...)`` and ``check(torch.allclose(a, b), ...)`` are recorded as
  values, not as a boolean.
* :func:`read_records` reads one part's record file (a JSON header and float64 data; size-limited,
  no pickle, no link followed).
* :func:`judge` re-judges a part with numpy from the student's records against the reference run's:
  every check the reference made must be there and pass, each comparison with the student's
  ``actual`` against the reference's ``expected`` and tolerances (the student's own expected only
  where the part computes it from the student's objects, or where the global random numbers or the
  default dtype differed from the reference run -- a model constructor that draws more,
  ``torch.set_default_dtype(torch.float64)`` -- and no torch function mode was active: that case is
  noted for a human).
"""
from __future__ import annotations

import ast
import builtins
import json
import math
import os
import stat
import struct
from pathlib import Path

import numpy as np

MAGIC = b"GRADEREC1"
MAX_FILE = 160 * 2**20            # bytes of one part's records
API = ("check", "check_close", "check_shape", "guard", "passed", "CheckFailed", "fingerprint", "claim")
PURE = ("CheckFailed", "fingerprint", "claim")   # no record: the recorder's own copy
REC = "_grader_rec"
VALUE_FNS = {"torch.equal": "equal", "torch.allclose": "allclose", "math.isclose": "isclose",
             "np.allclose": "allclose", "numpy.allclose": "allclose", "np.isclose": "isclose_np",
             "numpy.isclose": "isclose_np", "np.array_equal": "equal", "numpy.array_equal": "equal"}
OPS = {ast.Eq: "==", ast.NotEq: "!=", ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">="}

RECORDER_SOURCE = (Path(__file__).with_name("kernel_recorder.py")).read_text(encoding="utf-8")


# ---------------------------------------------------------------- what the imports bind

def import_bindings(imports: str) -> tuple[dict[str, str], set[str], set[str], set[str]]:
    """From the solution's import lines: (bare name -> check function, names of the checks module,
    names of the course_utils package, every name the imports bind)."""
    api, modules, packages, bound = {}, set(), set(), set()
    try:
        tree = ast.parse(imports)
    except SyntaxError:
        return api, modules, packages, bound
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module == "course_utils.checks":
            for a in node.names:
                if a.name in API:
                    api[a.asname or a.name] = a.name
        elif isinstance(node, ast.ImportFrom) and node.module == "course_utils":
            modules |= {a.asname or a.name for a in node.names if a.name == "checks"}
        elif isinstance(node, ast.Import):
            for a in node.names:
                if a.name == "course_utils.checks" and a.asname:
                    modules.add(a.asname)
                elif a.name.split(".")[0] == "course_utils" and not a.asname:
                    packages.add("course_utils")
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            bound |= {a.asname or a.name.split(".")[0] for a in node.names}
    return api, modules, packages, bound


# ---------------------------------------------------------------- taint

def _loads(node: ast.AST) -> set[str]:
    """Names read by an expression (not inside nested function bodies)."""
    out = set()
    stack = [node]
    while stack:
        n = stack.pop()
        if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load):
            out.add(n.id)
        if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and n is not node:
            continue
        stack.extend(ast.iter_child_nodes(n))
    return out


def _targets(node: ast.AST) -> list[ast.AST]:
    return list(node.elts) if isinstance(node, (ast.Tuple, ast.List)) else [node]


class _Taint:
    """Flow-sensitive, conservative: which names may hold values the student's code made or touched.

    The state maps a name to whether it is the student's. A name the tests did not assign before
    (on every path) comes from the notebook: the student's, unless the solution's imports bind it
    or it is a builtin. A name assigned from an expression that reads a student's name is the
    student's; so is a random generator given to a student's call, and an object whose method got
    a student's value. A function defined in the tests is the student's if it reads a student's
    name; its parameters are when a call passes a student's value (or no call is seen). ``own``
    maps id(expression) of each check's expected value to whether it may be the student's.
    """

    def __init__(self, clean: set[str], generators: set[str], called: set[str]):
        self.clean = clean | set(dir(builtins))
        self.generators, self.called = generators, called
        self.own: dict[int, bool] = {}
        self.ever: set[str] = set()
        self.params_tainted: dict[str, bool] = {}

    def run(self, body: list[ast.stmt], expected_nodes) -> dict[int, bool]:
        self.expected_nodes = expected_nodes
        for _ in range(4):                     # the functions' parameters settle in a few rounds
            before = dict(self.params_tainted)
            self.own = {}
            self.block(body, {})
            if self.params_tainted == before:
                break
        return self.own

    def name(self, name: str, state: dict[str, bool]) -> bool:
        return state[name] if name in state else name not in self.clean

    def tainted(self, expr: ast.AST | None, state: dict[str, bool]) -> bool:
        return expr is not None and any(self.name(n, state) for n in _loads(expr))

    def mark(self, name: str, dirty: bool, state: dict[str, bool]) -> None:
        state[name] = dirty
        if dirty:
            self.ever.add(name)

    def expressions(self, stmt: ast.stmt, state: dict[str, bool]) -> None:
        """Note the check calls of a statement's own expressions; taint what student code touched."""
        exprs = [c for c in ast.iter_child_nodes(stmt) if isinstance(c, ast.expr)]
        if isinstance(stmt, (ast.With, ast.AsyncWith)):
            exprs += [i.context_expr for i in stmt.items]
        nodes = [node for expr in exprs for node in ast.walk(expr)]
        for node in nodes:  # the values of one statement are taken as they were before it
            if id(node) in self.expected_nodes:
                self.own[id(node)] = self.own.get(id(node), False) or self.tainted(node, state)
        for node in nodes:
            if isinstance(node, ast.Call):
                self.call(node, state)

    def call(self, node: ast.Call, state: dict[str, bool]) -> None:
        """A student's call may consume a random generator it is given (the test's later draws from
        it are then the student's); a method call with a student's value may change its object.
        Other arguments are not tainted: a correct answer leaves them as the reference run does."""
        args = list(node.args) + [k.value for k in node.keywords]
        if isinstance(node.func, ast.Name) and node.func.id in self.params_tainted:
            if any(self.tainted(a, state) for a in args):
                self.params_tainted[node.func.id] = True
        touched = []
        if self.tainted(node.func, state):
            touched += [a for a in args if isinstance(a, ast.Name) and a.id in self.generators]
            touched += [k.value for k in node.keywords if k.arg in ("generator", "gen")]
        if isinstance(node.func, ast.Attribute) and any(self.tainted(a, state) for a in args):
            touched.append(node.func.value)
        for t in touched:
            while isinstance(t, (ast.Attribute, ast.Subscript, ast.Starred)):
                t = t.value
            if isinstance(t, ast.Name) and t.id not in self.clean:
                self.mark(t.id, True, state)

    def assign(self, targets: list[ast.AST], dirty: bool, state: dict[str, bool]) -> None:
        for target in targets:
            for t in _targets(target):
                if isinstance(t, ast.Starred):
                    t = t.value
                if isinstance(t, ast.Name):
                    self.mark(t.id, dirty, state)
                elif isinstance(t, (ast.Tuple, ast.List)):
                    self.assign([t], dirty, state)
                elif dirty:
                    while isinstance(t, (ast.Attribute, ast.Subscript)):
                        t = t.value
                    if isinstance(t, ast.Name):
                        self.mark(t.id, True, state)

    def join(self, a: dict[str, bool], b: dict[str, bool]) -> dict[str, bool]:
        return {n: self.name(n, a) or self.name(n, b) for n in set(a) | set(b)}

    def block(self, body: list[ast.stmt], state: dict[str, bool]) -> dict[str, bool]:
        for stmt in body:
            state = self.stmt(stmt, state)
        return state

    def loop(self, body: list[ast.stmt], state: dict[str, bool], head=None) -> dict[str, bool]:
        for _ in range(4):
            inner = dict(state)
            if head is not None:
                head(inner)
            joined = self.join(state, self.block(body, inner))
            if joined == state:
                break
            state = joined
        return state

    def stmt(self, stmt: ast.stmt, state: dict[str, bool]) -> dict[str, bool]:
        self.expressions(stmt, state)
        if isinstance(stmt, ast.Assign):
            self.assign(stmt.targets, self.tainted(stmt.value, state), state)
        elif isinstance(stmt, ast.AnnAssign) and stmt.value is not None:
            self.assign([stmt.target], self.tainted(stmt.value, state), state)
        elif isinstance(stmt, ast.AugAssign):
            target = ast.Name(stmt.target.id, ast.Load()) if isinstance(stmt.target, ast.Name) else stmt.target
            self.assign([stmt.target], self.tainted(stmt.value, state) or self.tainted(target, state), state)
        elif isinstance(stmt, (ast.Import, ast.ImportFrom)):
            for a in stmt.names:       # an import inside the tests: the course's (or a library's)
                self.mark(a.asname or a.name.split(".")[0], False, state)
        elif isinstance(stmt, (ast.For, ast.AsyncFor)):
            dirty = self.tainted(stmt.iter, state)
            state = self.loop(stmt.body, state, lambda s: self.assign([stmt.target], dirty, s))
            state = self.block(stmt.orelse, state)
        elif isinstance(stmt, ast.While):
            state = self.loop(stmt.body, state)
            state = self.block(stmt.orelse, state)
        elif isinstance(stmt, ast.If):
            state = self.join(self.block(stmt.body, dict(state)), self.block(stmt.orelse, dict(state)))
        elif isinstance(stmt, (ast.With, ast.AsyncWith)):
            for item in stmt.items:
                if item.optional_vars is not None:
                    self.assign([item.optional_vars], self.tainted(item.context_expr, state), state)
            state = self.block(stmt.body, state)
        elif isinstance(stmt, ast.Try):
            after = self.block(stmt.body, dict(state))
            for h in stmt.handlers:
                after = self.join(after, self.block(h.body, self.join(state, after)))
            state = self.block(stmt.finalbody, self.block(stmt.orelse, after))
        elif isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)):
            self.params_tainted.setdefault(stmt.name, stmt.name not in self.called)
            params = [a.arg for a in stmt.args.posonlyargs + stmt.args.args + stmt.args.kwonlyargs]
            params += [a.arg for a in (stmt.args.vararg, stmt.args.kwarg) if a is not None]
            inner = dict(state)
            inner.update({n: True for n in self.ever})   # what the tests change later, seen at call time
            inner.update({p: self.params_tainted[stmt.name] for p in params})
            self.block(stmt.body, inner)
            reads = set().union(*(_loads(s) for s in ast.walk(stmt) if isinstance(s, ast.expr))) - set(params)
            self.mark(stmt.name, any(self.name(n, inner) for n in reads if n != stmt.name)
                      or self.params_tainted[stmt.name], state)
        elif isinstance(stmt, ast.ClassDef):
            self.mark(stmt.name, True, state)
        return state


# ---------------------------------------------------------------- the rewrite

class _Rewrite(ast.NodeTransformer):
    def __init__(self, part: str, api: dict[str, str], modules: set[str], packages: set[str], own: dict[int, bool]):
        self.part, self.api, self.modules, self.packages, self.own = part, api, modules, packages, own
        self.n = 0

    def site(self) -> ast.Constant:
        self.n += 1
        return ast.Constant(f"{self.part}:{self.n}")

    def ref(self, node: ast.AST) -> str | None:
        """The check function a name or attribute refers to (None: not one)."""
        if isinstance(node, ast.Name) and node.id in self.api:
            return self.api[node.id]
        if isinstance(node, ast.Attribute) and node.attr in API:
            base = node.value
            if isinstance(base, ast.Name) and base.id in self.modules:
                return node.attr
            if isinstance(base, ast.Attribute) and base.attr == "checks" and isinstance(base.value, ast.Name) \
                    and base.value.id in self.packages:
                return node.attr
        return None

    @staticmethod
    def rec(attr: str) -> ast.Attribute:
        return ast.Attribute(ast.Name(REC, ast.Load()), attr, ast.Load())

    def visit_Raise(self, node: ast.Raise):
        if isinstance(node.exc, ast.Call) and self.ref(node.exc.func) == "CheckFailed":
            site = self.site()
            node.exc = ast.Call(self.rec("failed"), [site, self.visit(node.exc)], [])
            node.cause = self.visit(node.cause) if node.cause is not None else None
            return node
        return self.generic_visit(node)

    def visit_Call(self, node: ast.Call):
        name = self.ref(node.func)
        if name is None:
            return self.generic_visit(node)
        if name in PURE:
            return ast.Call(self.rec(name), [self.visit(a) for a in node.args], [self.visit(k) for k in node.keywords])
        splat = any(isinstance(a, ast.Starred) for a in node.args) or any(k.arg is None for k in node.keywords)
        site = self.site()
        form, own = "plain", True
        if name in ("check_close", "check_shape"):
            expected = _arg(node, 1, "expected" if name == "check_close" else "shape")
            own = splat or expected is None or self.own.get(id(expected), True)
        cond = _arg(node, 0, "condition") if name == "check" and not splat else None
        negate = isinstance(cond, ast.UnaryOp) and isinstance(cond.op, ast.Not)
        inner = cond.operand if negate else cond
        if isinstance(inner, ast.Compare) and not negate and len(inner.ops) == 1 and type(inner.ops[0]) in OPS:
            form, own = "compare", self.own.get(id(inner.comparators[0]), True)
        elif isinstance(inner, ast.Call) and ast.unparse(inner.func) in VALUE_FNS and len(inner.args) == 2 \
                and not any(isinstance(a, ast.Starred) for a in inner.args) \
                and all(k.arg is not None for k in inner.keywords):
            form, own = "fn", self.own.get(id(inner.args[1]), True)
        args = [self.visit(a) for a in node.args]
        keywords = [self.visit(k) for k in node.keywords]
        if name in ("check_close", "check_shape"):
            return ast.Call(self.rec(name), [site, ast.Constant(own)] + args, keywords)
        if form != "plain":
            rest_args = args[1:] if node.args else []
            rest_kw = [k for k in keywords if k.arg != "condition"]
            inner = _arg(ast.Call(node.func, args, keywords), 0, "condition")
            inner = inner.operand if negate else inner
            if form == "compare":
                return ast.Call(self.rec("check_compare"), [site, ast.Constant(own), inner.left,
                                ast.Constant(OPS[type(inner.ops[0])]), inner.comparators[0]] + rest_args, rest_kw)
            kwargs = ast.Dict([ast.Constant(k.arg) for k in inner.keywords], [k.value for k in inner.keywords])
            return ast.Call(self.rec("check_fn"), [site, ast.Constant(own), ast.Constant(VALUE_FNS[ast.unparse(inner.func)]),
                            inner.func, inner.args[0], inner.args[1], kwargs, ast.Constant(negate)]
                            + rest_args, rest_kw)
        return ast.Call(self.rec(name), [site] + args, keywords)

    def generic_ref(self, node):
        name = self.ref(node)
        if name is None or not isinstance(getattr(node, "ctx", None), ast.Load):
            return None
        if name in PURE:
            return self.rec(name)
        return ast.Call(self.rec("bound"), [self.site(), ast.Constant(name)], [])

    def visit_Name(self, node: ast.Name):
        return self.generic_ref(node) or node

    def visit_Attribute(self, node: ast.Attribute):
        return self.generic_ref(node) or self.generic_visit(node)


def _arg(call: ast.Call, i: int, keyword: str) -> ast.AST | None:
    if len(call.args) > i:
        return call.args[i]
    return next((k.value for k in call.keywords if k.arg == keyword), None)


def rewrite(source: str, part: str, imports: str) -> str:
    """The source of one test part as the grader runs it (:func:`rewrite_parts` of that part alone)."""
    return rewrite_parts([(part, source)], imports)[0]


def rewrite_parts(parts: list[tuple[str, str]], imports: str) -> list[str]:
    """The sources of test parts as the grader runs them: every check call goes to the recorder.

    ``parts`` are (name, source) in the notebook's order, analysed together (a helper defined in a
    visible check and called by the hidden tests is seen with its calls); each name names its call
    sites ("hidden tests 1:4"). ``imports`` are the solution's import lines (they say which names
    are the course's checks and which are not the student's). A part that does not parse is
    returned as it is (it fails in the kernel the same way).
    """
    trees = []
    for _, source in parts:
        try:
            trees.append(ast.parse(source))
        except SyntaxError:
            trees.append(None)
    every = [node for tree in trees if tree is not None for node in ast.walk(tree)]
    inside = "\n".join(ast.unparse(n) for n in every if isinstance(n, (ast.Import, ast.ImportFrom)))
    api, modules, packages, bound = import_bindings(imports + "\n" + inside)
    locally = {n.id for n in every if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}
    api = {k: v for k, v in api.items() if k not in locally}
    modules -= locally
    expected = set()
    probe = _Rewrite("", api, modules, packages, {})
    for node in every:
        if isinstance(node, ast.Call):
            name = probe.ref(node.func)
            if name in ("check_close", "check_shape"):
                e = _arg(node, 1, "expected" if name == "check_close" else "shape")
                expected.add(id(e)) if e is not None else None
            elif name == "check":
                cond = _arg(node, 0, "condition")
                cond = cond.operand if isinstance(cond, ast.UnaryOp) and isinstance(cond.op, ast.Not) else cond
                if isinstance(cond, ast.Compare) and len(cond.comparators) == 1:
                    expected.add(id(cond.comparators[0]))
                elif isinstance(cond, ast.Call) and len(cond.args) == 2:
                    expected.add(id(cond.args[1]))
    generators = {t.id for n in every if isinstance(n, ast.Assign) and "Generator(" in ast.unparse(n.value)
                  for target in n.targets for t in _targets(target) if isinstance(t, ast.Name)}
    called = {n.func.id for n in every if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)}
    body = [stmt for tree in trees if tree is not None for stmt in tree.body]
    own = _Taint(bound | {REC}, generators, called).run(body, expected)
    out = []
    for (part, source), tree in zip(parts, trees):
        if tree is None:
            out.append(source)
        else:
            out.append(ast.unparse(ast.fix_missing_locations(_Rewrite(part, api, modules, packages, own).visit(tree))))
    return out


def install_source(record_path: str, checks_source: str, checks_file: str) -> str:
    """The cell that builds a fresh recorder in the kernel (run before each test part)."""
    return (f"def _grader_make():\n"
            f"    _ns = {{'__name__': 'grader_recorder'}}\n"
            f"    exec(compile({RECORDER_SOURCE!r}, 'grader_recorder', 'exec'), _ns)\n"
            f"    return _ns['Recorder']({record_path!r}, {checks_source!r}, {checks_file!r})\n"
            f"{REC} = _grader_make()\n"
            f"del _grader_make\n")


SAVE_SOURCE = f"{REC}.save()\n"


# ---------------------------------------------------------------- reading

class Unreadable(ValueError):
    """A record file that is missing, too large, a link or not in the recorder's format."""


def parse_records(data: bytes) -> dict:
    """Records from a record file's bytes: {"records": [...], "too_large": bool}, each value with
    its numbers as a numpy float64 array under "a"."""
    if not data.startswith(MAGIC) or len(data) < len(MAGIC) + 8:
        raise Unreadable("not a record file")
    (size,) = struct.unpack("<Q", data[len(MAGIC):len(MAGIC) + 8])
    start = len(MAGIC) + 8
    if size > len(data) - start:
        raise Unreadable("truncated header")
    try:
        header = json.loads(data[start:start + size].decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as e:
        raise Unreadable(f"bad header ({e})") from None
    payload = memoryview(data)[start + size:]
    if not isinstance(header, dict) or not isinstance(header.get("records"), list):
        raise Unreadable("no records")
    n_values = len(payload) // 8
    for rec in header["records"]:
        if not isinstance(rec, dict) or not isinstance(rec.get("site"), str) or not isinstance(rec.get("n"), int):
            raise Unreadable("a record without a site")
        for key in ("actual", "expected", "left", "right"):
            v = rec.get(key)
            if isinstance(v, dict) and v.get("k") in ("number", "tensor"):
                off, n, shape = v.get("off"), v.get("n"), v.get("shape")
                if not (isinstance(off, int) and isinstance(n, int) and isinstance(shape, list)
                        and 0 <= off and 0 <= n and off + n <= n_values
                        and all(isinstance(s, int) and s >= 0 for s in shape) and math.prod(shape) == n):
                    raise Unreadable("a value outside the data")
                v["a"] = np.frombuffer(payload, dtype="<f8", count=n, offset=off * 8).reshape(shape)
    return header


def read_records(path: Path) -> dict:
    """The records of one part from its file (no link followed, no device, at most MAX_FILE bytes)."""
    return parse_records(read_bytes(path))


def read_bytes(path: Path) -> bytes:
    """A record file's bytes (no link followed, no device, at most MAX_FILE bytes)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError as e:
        raise Unreadable(f"no record file ({e.strerror})") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise Unreadable("the record file is not a plain file")
        if info.st_size > MAX_FILE:
            raise Unreadable(f"the records are too large ({info.st_size} bytes)")
        chunks, size = [], 0
        while size <= MAX_FILE:
            chunk = os.read(fd, 1 << 20)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        if size > MAX_FILE:
            raise Unreadable("the records are too large")
    finally:
        os.close(fd)
    return b"".join(chunks)


# ---------------------------------------------------------------- judging

def _array(v) -> np.ndarray | None:
    if not isinstance(v, dict):
        return None
    if v.get("k") in ("number", "tensor"):
        return v["a"]
    if v.get("k") == "bool":
        return np.asarray(float(v["v"]))
    return None


def _close_fails(actual: dict, expected: dict, rtol: float, atol: float) -> str:
    """Why ``actual`` fails check_close against ``expected`` ("" when it passes), as checks.check_close."""
    if not isinstance(actual, dict) or not isinstance(expected, dict):
        return "no value"
    if actual.get("k") == "large" or expected.get("k") == "large":
        return "too large to check"
    a, e = _array(actual), _array(expected)
    if a is None:
        return f"is {actual.get('v', actual.get('k'))}, expected numbers"
    if e is None:
        return "no expected value"
    if expected.get("k") == "number" and actual.get("k") == "number":
        if a.size != 1 or e.size != 1:
            return "not a number"
        value, want = float(a.reshape(-1)[0]), float(e.reshape(-1)[0])
        ok = (math.isinf(want) and value == want) or math.isclose(value, want, rel_tol=rtol, abs_tol=atol)
        return "" if ok else f"= {value:.6g}, expected {want:.6g}"
    if a.shape != e.shape:
        return f"has shape {tuple(a.shape)}, expected {tuple(e.shape)}"
    bad = int((np.isnan(a) & ~np.isnan(e)).sum())
    if bad:
        return f"has {bad} NaN value(s)"
    with np.errstate(invalid="ignore", over="ignore"):
        diff = np.abs(a - e)
        ok = bool(np.all(diff <= atol + rtol * np.abs(e)))
    if ok:
        return ""
    worst = float(np.nan_to_num(diff, nan=np.inf).max()) if diff.size else 0.0
    return f"differs from the expected values by up to {worst:.3g} (tolerance {atol:g} + {rtol:g}*|expected|)"


def _scalar(v: dict):
    """A comparable Python value of a recorded operand (None: not comparable as a scalar)."""
    if not isinstance(v, dict):
        return None
    k = v.get("k")
    if k in ("str", "bool"):
        return v["v"]
    if k == "shape":
        return tuple(v["v"])
    if k == "none":
        return ("<none>",)
    a = _array(v)
    if a is not None and a.size == 1:
        return float(a.reshape(-1)[0])
    return None


def _compare(op: str, left, right):
    import operator
    fn = {"==": operator.eq, "!=": operator.ne, "<": operator.lt, "<=": operator.le, ">": operator.gt,
          ">=": operator.ge}[op]
    try:
        return bool(fn(left, right))
    except TypeError:
        return None


def _fn_holds(rec: dict, right: dict) -> bool | None:
    """torch.equal / allclose / math.isclose / np.isclose on the recorded operands (None: cannot tell)."""
    if rec.get("other_kwargs"):
        return None
    a, b = _array(rec.get("left")), _array(right)
    if a is None or b is None:
        return None
    kw, fn = rec.get("kwargs") or {}, rec.get("fn")
    with np.errstate(invalid="ignore", over="ignore"):
        if fn == "equal":
            held = a.shape == b.shape and bool(np.array_equal(a, b))
        elif fn in ("allclose", "isclose_np"):
            try:
                close = np.abs(a - b) <= kw.get("atol", 1e-8) + kw.get("rtol", 1e-5) * np.abs(b)
            except ValueError:
                return None
            if fn == "isclose_np" and close.size != 1:
                return None
            held = bool(np.all(close))
        elif fn == "isclose":
            if a.size != 1 or b.size != 1:
                return None
            held = math.isclose(float(a.reshape(-1)[0]), float(b.reshape(-1)[0]),
                                rel_tol=kw.get("rel_tol", 1e-9), abs_tol=kw.get("abs_tol", 0.0))
        else:
            return None
    return (not held) if rec.get("negate") else held


def _same(x: dict, y: dict, rtol: float, atol: float) -> bool:
    """Whether two recorded operands agree (for: did the student's part compute the same expected?)."""
    if isinstance(x, dict) and isinstance(y, dict) and x.get("k") not in ("number", "tensor"):
        return x.get("k") == y.get("k") and x.get("v") == y.get("v")
    return not _close_fails(x, y, rtol, atol)


def _expected(rec: dict, ref: dict | None, field: str, notes: list[str], rtol=1e-5, atol=1e-6):
    """The expected operand to judge ``rec`` with: the reference's, or the student's own where the
    part computes it from the student's objects, or where the global random numbers differed from
    the reference run (noted) while no torch function mode was active."""
    if ref is None or rec.get("own"):
        return rec.get(field)
    mine, theirs = rec.get(field), ref.get(field)
    if rec.get("rng") != ref.get("rng") and rec.get("modes") == 0 and not _same(mine, theirs, rtol, atol):
        notes.append(f"{rec.get('label', '')}: judged against the part's own inputs (the global random "
                     "numbers or the default dtype were not those of the reference run)")
        return mine
    return theirs


def judge(student: dict, reference: dict | None) -> tuple[bool, str, list[str]]:
    """(passed, message, notes) for one part, from the student's records and the reference run's.

    ``reference`` None (the solution's run of this part failed): the student's records alone are
    re-judged. Notes say where the grader fell back on the student's own values.
    """
    notes: list[str] = []
    if student.get("too_large"):
        return False, "the grader's re-check: the values this part compared are too large to record", notes
    mine = {(r["site"], r["n"]): r for r in student["records"]}
    theirs = {(r["site"], r["n"]): r for r in reference["records"]} if reference else {}
    for key, rec in mine.items():
        ref = theirs.get(key)
        label = rec.get("label", "")
        kind = rec.get("kind")
        if ref is not None and ref.get("kind") != kind:
            return False, f"the grader's re-check: {label}: not the check the tests made", notes
        why = ""
        if kind == "guard":
            why = "raised an error" if rec.get("raised") is not False else ""
        elif kind == "failed":
            why = "failed"
        elif kind == "bool":
            why = "" if rec.get("held") is True else "failed"
        elif kind == "close":
            rtol, atol = (ref or rec).get("rtol", 1e-5), (ref or rec).get("atol", 1e-6)
            expected = _expected(rec, ref, "expected", notes, rtol, atol)
            why = _close_fails(rec.get("actual"), expected, rtol, atol)
        elif kind == "shape":
            spec = rec.get("expected") if ref is None or rec.get("own") else ref.get("expected")
            got = rec.get("actual")
            if got is None or spec is None:
                why = "is not a tensor" if got is None else "no expected shape"
            elif not (len(got) == len(spec) and all(s == -1 or s == g for s, g in zip(spec, got))):
                why = f"has shape {tuple(got)}, expected {tuple(spec)}"
        elif kind == "compare":
            right = _expected(rec, ref, "right", notes)
            left, r = _scalar(rec.get("left")), _scalar(right)
            held = _compare(rec.get("op", "=="), left, r) if left is not None and r is not None else None
            if held is None:
                if rec.get("op") == "==" and (left is None) != (r is None):
                    held = False
                else:
                    held = rec.get("held") is True    # not comparable as values: the kernel's boolean
            why = "" if held else "failed"
        elif kind == "fn":
            right = _expected(rec, ref, "right", notes)
            held = _fn_holds(rec, right)
            why = "" if (rec.get("held") is True if held is None else held) else "failed"
        elif kind != "passed":
            why = "an unknown check"
        if why:
            return False, f"the grader's re-check: {label}: {why}".rstrip(": "), notes
    for key, ref in theirs.items():
        if key not in mine:
            return False, f"the grader's re-check: a check of this part did not run ({ref.get('label', '')})", notes
    return True, "", notes
