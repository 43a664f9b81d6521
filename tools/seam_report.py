"""Two numbers about the backend seam, printed for review and session notes.

    python tools/seam_report.py            # both, with the per-file NumPy counts
    python tools/seam_report.py --cycles   # the import cycles only

1. Direct NumPy calls in ``ember/ops`` and ``ember/nn/functional``: each
   ``np.<name>``/``numpy.<name>`` that is not a dtype or type constant
   (``np.float32``, ``np.ndarray``, ``np.finfo`` ...), on lines that are not
   comments and not marked ``# host`` (host-side shape or index arithmetic,
   which stays NumPy's on every device).  Ops compute through their inputs'
   namespace (``xp``), so this should be near zero.
2. Import cycles among Ember's modules: the strongly connected components of
   the import graph, first of module-level imports, then with the imports
   inside functions added (a deferred import hides a cycle, it does not
   remove it).  Each component of more than one module is printed.
"""
import ast
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PKG = os.path.join(ROOT, "ember")

_CALL = re.compile(r"\b(?:np|numpy)\.([A-Za-z_][A-Za-z_0-9]*)")
_CONSTANT = re.compile(r"^(u?int(8|16|32|64)|float(16|32|64)|bool_|dtype|ndarray|newaxis|generic|"
                       r"integer|floating|number|complex(64|128)|intp|finfo|iinfo)$")


def numpy_calls(path):
    """Count of direct NumPy calls in one file (see the module docstring)."""
    n = 0
    with open(path) as f:
        for line in f:
            code = line.split("#", 1)[0] if "# host" in line else line
            if line.lstrip().startswith("#") or "# host" in line:
                continue
            n += sum(1 for m in _CALL.finditer(code) if not _CONSTANT.match(m.group(1)))
    return n


def seam_files():
    for sub in ("ops", os.path.join("nn", "functional")):
        d = os.path.join(PKG, sub)
        for name in sorted(os.listdir(d)):
            if name.endswith(".py"):
                yield os.path.join(d, name)


def _module_name(path):
    rel = os.path.relpath(path, ROOT)[:-3].replace(os.sep, ".")
    return rel[:-len(".__init__")] if rel.endswith(".__init__") else rel


def import_graph(deferred=False):
    """module -> set of Ember modules it imports at module level (with
    ``deferred``, also the imports inside functions)."""
    graph = {}
    for dirpath, _, files in os.walk(PKG):
        for name in files:
            if not name.endswith(".py"):
                continue
            path = os.path.join(dirpath, name)
            mod = _module_name(path)
            is_pkg = name == "__init__.py"
            with open(path) as f:
                tree = ast.parse(f.read(), path)
            nodes = ast.walk(tree) if deferred else tree.body
            graph[mod] = [imp for node in nodes
                          for imp in (_imports(node) if not deferred else
                                      [node] if isinstance(node, (ast.Import, ast.ImportFrom)) else [])
                          for imp in _resolve(imp, mod, is_pkg)]
    # ``from pkg import name`` depends on the module pkg.name where there is
    # one, else on pkg (its __init__).
    for mod, targets in graph.items():
        deps = set()
        for prefix, name in targets:
            full = f"{prefix}.{name}" if name else prefix
            dep = full if full in graph else prefix
            if dep in graph and dep != mod:
                deps.add(dep)
        graph[mod] = deps
    return graph


def _imports(node):
    if isinstance(node, (ast.Import, ast.ImportFrom)):
        yield node
    elif isinstance(node, (ast.If, ast.Try)):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.stmt):
                yield from _imports(child)
            elif isinstance(child, ast.ExceptHandler):
                for c in child.body:
                    yield from _imports(c)


def _resolve(node, mod, is_pkg):
    if isinstance(node, ast.Import):
        return [(a.name, None) for a in node.names if a.name.startswith("ember")]
    parts = mod.split(".")
    if node.level:
        base = parts if is_pkg else parts[:-1]
        base = base[:len(base) - (node.level - 1)]
        prefix = ".".join(base + ([node.module] if node.module else []))
    else:
        prefix = node.module or ""
    if not prefix.startswith("ember"):
        return []
    return [(prefix, a.name) for a in node.names]


def cycles(graph):
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on, out = {}, {}, [], set(), []
    counter = [0]

    def visit(v):
        work = [(v, iter(sorted(graph[v])))]
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        while work:
            node, it = work[-1]
            for w in it:
                if w not in index:
                    index[w] = low[w] = counter[0]
                    counter[0] += 1
                    stack.append(w)
                    on.add(w)
                    work.append((w, iter(sorted(graph[w]))))
                    break
                if w in on:
                    low[node] = min(low[node], index[w])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    comp = []
                    while True:
                        w = stack.pop()
                        on.discard(w)
                        comp.append(w)
                        if w == node:
                            break
                    if len(comp) > 1:
                        out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def main(argv):
    if "--cycles" not in argv:
        total = 0
        for path in seam_files():
            n = numpy_calls(path)
            total += n
            if n:
                print(f"{n:5d}  {os.path.relpath(path, ROOT)}")
        print(f"direct NumPy calls in ember/ops and ember/nn/functional: {total}")
    for deferred in (False, True):
        what = "module-level and deferred (in-function) imports" if deferred else \
            "module-level imports"
        comps = cycles(import_graph(deferred))
        for comp in comps:
            print(f"  cycle ({len(comp)} modules): " + ", ".join(comp))
        core = [c for c in comps if "ember._tensor" in c
                and any(m.startswith(("ember.ops", "ember.autograd")) for m in c)]
        print(f"import cycles over {what}: {len(comps)}; "
              f"the one through _tensor and autograd/ops: {len(core[0]) if core else 0} modules")


if __name__ == "__main__":
    main(sys.argv[1:])
