"""Which array-namespace names Ember's ops use, and which of them CuPy lacks.

    python tools/cupy_names.py           # every name used, the gaps marked
    python tools/cupy_names.py --gaps    # only the gaps (exit status 1 if any)
    python tools/cupy_names.py --flags   # array flags CuPy lacks, for review

Ops compute through ``xp = namespace(x)``: NumPy on the CPU, CuPy on the
GPU.  A name NumPy has and CuPy lacks (``xp.errstate``), or a keyword CuPy's
function does not take, works on the CPU and fails only on a GPU.  This
finds them without one, by reading the source:

* a *use* is an attribute chain ``xp.<name>`` or ``xp.<mod>.<name>`` whose
  root is a namespace: the name ``xp``, any ``<expr>.xp`` (``b.xp``),
  ``namespace(...)`` or ``XP[...]``;
* each use is looked up on ``cupy`` (``hasattr``, module by module), and
  for a call, each keyword it passes is checked against the signature of
  CuPy's function where Python can read one (ufuncs take out/dtype/casting).

Arrays' flags are listed apart, for review, not counted as gaps:
``<array>.flags.<name>`` (read or written) where CuPy's flags lack the name
(they have c_contiguous, f_contiguous and owndata: no ``writeable``).  Such
a use is right when only NumPy arrays reach it or a test guards it
(``getattr(a.flags, "writeable", True)`` is not listed); this scan cannot
tell, so ``--flags`` prints them and a reader judges.

Also checked: a ufunc *method* (``xp.maximum.reduce``, ``xp.multiply.at``)
CuPy has only for a few ufuncs (``UFUNC_METHODS``), and a method called on a
ufunc looked up by a computed name (``getattr(xp, name).reduce``), which
cannot be proved safe and so is a gap.

Scanned: every module of ``ember`` except ``ember/backends/cpu`` (the CPU's
own code, which calls NumPy on purpose).  A use inside a generic kernel
(``ember/backends/generic``) that the CUDA table (``ember/backends/gpu``)
registers a kernel of the same name for never runs on CuPy arrays, so it is
not a gap.  A use known to be safe anyway is listed in ``ALLOWED`` with the
reason; anything else CuPy lacks is a gap.  ``tests/test_cupy_names.py``
runs this when CuPy is importable.
"""
import ast
import inspect
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PKG = os.path.join(ROOT, "ember")
SKIP_DIRS = (os.path.join("ember", "backends", "cpu"),)
GENERIC_DIR = os.path.join(PKG, "backends", "generic")
GPU_DIR = os.path.join(PKG, "backends", "gpu")

# name -> why it is fine that CuPy lacks it (or spells it otherwise).
ALLOWED = {
}

# Keywords every CuPy ufunc takes (its __call__ reads them from **kwargs,
# so its signature shows none).
UFUNC_KEYWORDS = {"out", "dtype", "casting"}

# CuPy's ufuncs all have the methods, but each works for a few ufuncs only
# (the rest raise NotImplementedError on the device): CuPy 14's documented list
# (docs/source/reference/ufunc.rst, "Methods").
UFUNC_METHODS = {
    "reduce": {"add", "multiply"},
    "accumulate": {"add", "multiply"},
    "reduceat": {"add"},
    "outer": None,      # (all)
    "at": {"add", "subtract", "maximum", "minimum", "bitwise_and", "bitwise_or", "bitwise_xor"},
}


class Use:
    """One ``xp.<chain>`` found in the source."""
    __slots__ = ("chain", "path", "line", "keywords", "npos", "function")

    def __init__(self, chain, path, line, keywords, npos, function=None):
        self.chain, self.path, self.line, self.keywords = chain, path, line, keywords
        self.npos = npos        # positional arguments of the call (None: not a call, or *args)
        self.function = function  # the top-level function it is in (None: module level)

    def where(self):
        return f"{os.path.relpath(self.path, ROOT)}:{self.line}"


def _is_namespace_root(node):
    """Whether ``node`` evaluates to an array namespace (see the docstring)."""
    if isinstance(node, ast.Name):
        return node.id == "xp"
    if isinstance(node, ast.Attribute):
        return node.attr == "xp"
    if isinstance(node, ast.Call):
        f = node.func
        name = f.id if isinstance(f, ast.Name) else f.attr if isinstance(f, ast.Attribute) else None
        return name == "namespace"
    if isinstance(node, ast.Subscript):
        return isinstance(node.value, ast.Name) and node.value.id == "XP"
    return False


DYNAMIC = "<computed>"      # the name of getattr(xp, <not a string constant>)
FLAGS = "<array>.flags."    # the chain of an array's flag (not a namespace name)


def _chain(node):
    """(root, [attr, ...]) of an attribute chain ``root.a.b``; a
    ``getattr(ns, name)`` link counts as the attribute ``name`` (DYNAMIC
    when it is not a string constant)."""
    attrs = []
    while True:
        if attrs and _is_namespace_root(node):
            return node, attrs[::-1]
        if isinstance(node, ast.Attribute):
            attrs.append(node.attr)
            node = node.value
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
              and node.func.id == "getattr" and len(node.args) >= 2
              and _is_namespace_root(node.args[0])):
            a = node.args[1]
            attrs.append(a.value if isinstance(a, ast.Constant) and isinstance(a.value, str)
                         else DYNAMIC)
            node = node.args[0]
        else:
            return node, attrs[::-1]


def uses_in(path, source=None):
    """Every namespace use in one file (or in ``source``, read as that file)."""
    if source is None:
        with open(path, encoding="utf-8") as f:
            source = f.read()
    tree = ast.parse(source, path)
    calls = {}      # id(func node) -> keywords of the call it heads
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            starred = any(isinstance(a, ast.Starred) for a in node.args)
            calls[id(node.func)] = (tuple(k.arg for k in node.keywords if k.arg),
                                    None if starred else len(node.args))
    owner = {}      # id(node) -> the top-level function (or Class.method) holding it
    defs = (ast.FunctionDef, ast.AsyncFunctionDef)
    for top in tree.body:
        tops = [(top.name, top)] if isinstance(top, defs) else \
            [(f"{top.name}.{m.name}", m) for m in top.body if isinstance(m, defs)] \
            if isinstance(top, ast.ClassDef) else []
        for name, fn in tops:
            for node in ast.walk(fn):
                owner[id(node)] = name
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Attribute) \
                and node.value.attr == "flags":
            found.append(Use(FLAGS + node.attr, path, node.lineno, (), None, owner.get(id(node))))
            continue
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) \
                and node.func.id == "getattr" and len(node.args) >= 2 \
                and _is_namespace_root(node.args[0]) and not getattr(node, "_inner", False):
            pass        # (a getattr link heading a chain: recorded below as an attribute)
        elif not isinstance(node, ast.Attribute):
            continue
        # only the outermost attribute of a chain: xp.linalg.norm, not xp.linalg too
        root, attrs = _chain(node)
        if not _is_namespace_root(root) or not attrs:
            continue
        parent_is_attr = getattr(node, "_inner", False)
        if parent_is_attr:
            continue
        inner = node
        while inner is not root:
            inner = inner.value if isinstance(inner, ast.Attribute) else inner.args[0]
            inner._inner = True
        if isinstance(node, ast.Call) and DYNAMIC not in attrs:
            continue    # (getattr(xp, "name") alone: its call is found as a chain below)
        if isinstance(node, ast.Call):
            continue    # (a bare getattr(xp, name)(...): a plain function, unknown name)
        keywords, npos = calls.get(id(node), ((), None))
        found.append(Use(".".join(attrs[:3]), path, node.lineno, keywords, npos,
                         owner.get(id(node))))
    # (ast.walk is breadth first: an outer attribute is seen before its inner ones)
    return found


def scanned_files():
    for dirpath, dirs, files in os.walk(PKG):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__")
        if any(os.path.relpath(dirpath, ROOT).startswith(s) for s in SKIP_DIRS):
            continue
        for name in sorted(files):
            if name.endswith(".py"):
                yield os.path.join(dirpath, name)


def all_uses():
    out = []
    for path in scanned_files():
        out.extend(uses_in(path))
    return out


def gpu_kernel_names():
    """Names of the kernels the CUDA table registers (read from the source of
    ember/backends/gpu: functions decorated ``@<table>.register``)."""
    names = set()
    if not os.path.isdir(GPU_DIR):
        return names
    for dirpath, _, files in os.walk(GPU_DIR):
        for name in files:
            if not name.endswith(".py"):
                continue
            with open(os.path.join(dirpath, name), encoding="utf-8") as f:
                tree = ast.parse(f.read())
            for node in ast.walk(tree):
                if isinstance(node, ast.FunctionDef) and any(
                        isinstance(d, ast.Attribute) and d.attr == "register"
                        for d in node.decorator_list):
                    names.add(node.name)
    return names


def _lookup(mod, chain):
    """The object ``mod.<chain>`` or None."""
    obj = mod
    for part in chain.split("."):
        obj = getattr(obj, part, None)
        if obj is None:
            return None
    return obj


def _is_ufunc(obj):
    return type(obj).__name__ == "ufunc"


def _signature(fn):
    try:
        return inspect.signature(fn)
    except (TypeError, ValueError):
        return None


def _accepts(fn, keyword):
    """Whether ``fn`` takes ``keyword`` (True where its signature can't be read)."""
    if _is_ufunc(fn):
        return keyword in UFUNC_KEYWORDS
    sig = _signature(fn)
    if sig is None or any(p.kind is p.VAR_KEYWORD for p in sig.parameters.values()):
        return True
    return keyword in sig.parameters


def _max_positional(fn):
    """How many positional arguments ``fn`` takes (None: any, or unknown)."""
    if _is_ufunc(fn):
        return fn.nin + fn.nout
    sig = _signature(fn)
    if sig is None:
        return None
    kinds = [p.kind for p in sig.parameters.values()]
    if inspect.Parameter.VAR_POSITIONAL in kinds:
        return None
    return sum(k in (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
               for k in kinds)


def _ufunc_method_gap(cupy, chain):
    """Why ``xp.<ufunc>.<method>`` fails on CuPy, or None."""
    parts = chain.split(".")
    if parts[0] == DYNAMIC:
        if len(parts) == 2 and parts[1] in UFUNC_METHODS:
            return f"a ufunc named at run time: its {parts[1]} cannot be checked"
        return None
    if len(parts) != 2 or not _is_ufunc(getattr(cupy, parts[0], None)):
        return None
    ok = UFUNC_METHODS.get(parts[1], ())
    if ok is None or parts[0] in ok:
        return None
    return f"CuPy's {parts[1]} is only for " + ", ".join(sorted(ok))


def gaps(uses, cupy, numpy):
    """{chain or 'chain(keyword=)': [Use, ...]} for the uses CuPy cannot run:
    a name it lacks, or a keyword its function does not take.  Names NumPy
    lacks too are not namespace functions (a local object named xp) and are
    skipped."""
    out = {}
    replaced = gpu_kernel_names()
    for u in uses:
        if u.chain in ALLOWED or (u.path.startswith(GENERIC_DIR) and u.function in replaced):
            continue
        if u.chain.startswith(FLAGS):
            continue        # (flag_uses() lists those)
        if _ufunc_method_gap(cupy, u.chain) and u.chain.startswith(DYNAMIC):
            out.setdefault(u.chain, []).append(u)
            continue
        if _lookup(numpy, u.chain) is None:
            continue
        obj = _lookup(cupy, u.chain)
        if obj is None or _ufunc_method_gap(cupy, u.chain):
            out.setdefault(u.chain, []).append(u)
            continue
        for k in u.keywords:
            key = f"{u.chain}({k}=)"
            if key not in ALLOWED and not _accepts(obj, k):
                out.setdefault(key, []).append(u)
        most = _max_positional(obj)
        if u.npos is not None and most is not None and u.npos > most:
            key = f"{u.chain}({u.npos} positional)"
            if key not in ALLOWED:
                out.setdefault(key, []).append(u)
    return out


def flag_uses(uses, cupy):
    """{'<array>.flags.<name>': [Use, ...]} for the flags CuPy's arrays lack."""
    have = set(dir(cupy._core.flags.Flags))
    out = {}
    for u in uses:
        if u.chain.startswith(FLAGS) and u.chain[len(FLAGS):] not in have:
            out.setdefault(u.chain, []).append(u)
    return out


def main(argv):
    import numpy
    try:
        import cupy
    except ImportError as e:
        print(f"CuPy is not importable here ({e}): nothing to compare with.")
        return 0
    uses = all_uses()
    found = gaps(uses, cupy, numpy)
    if "--flags" in argv:
        for key, where in sorted(flag_uses(uses, cupy).items()):
            print(f"{key} (CuPy's arrays have no such flag; right only where guarded or "
                  f"host-only), {len(where)} uses:")
            for u in where:
                print(f"  {u.where()} (in {u.function or 'module level'})")
        return 0
    if "--gaps" not in argv:
        names = sorted({u.chain for u in uses if _lookup(numpy, u.chain) is not None})
        print(f"{len(names)} namespace names used in {len(uses)} places (CuPy {cupy.__version__}):")
        for n in names:
            mark = "  MISSING" if n in found else ("  allowed: " + ALLOWED[n] if n in ALLOWED else "")
            print(f"  xp.{n}{mark}")
    if not found:
        print("no gaps: CuPy has every name and keyword the ops use")
        return 0
    print(f"{len(found)} gap(s):")
    for key, where in sorted(found.items()):
        why = _ufunc_method_gap(cupy, key) or (
            "CuPy lacks it" if _lookup(cupy, key) is None else "CuPy's function does not take it")
        print(f"  xp.{key} ({why}): " + ", ".join(u.where() for u in where[:6])
              + (f" (+{len(where) - 6})" if len(where) > 6 else ""))
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
