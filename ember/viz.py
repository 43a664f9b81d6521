"""Pictures of computation graphs, as Graphviz DOT (and SVG/PNG when ``dot`` exists).

    g = ember.viz.draw_graph(loss)          # a Tensor, or an ember.scalar.Value
    print(g.source)                         # DOT text, always available
    g.render("graph.png")                   # needs the Graphviz ``dot`` program

For a Tensor the picture has one box per recorded op (its grad_fn name),
one per leaf tensor (shape, dtype, and its name if you pass ``params``),
with edges labelled by the shape flowing along them.  For a scalar Value
it shows each value's data and grad and the operations between them.
"""
import shutil
import subprocess

__all__ = ["draw_graph", "Graph"]


class Graph:
    """DOT source plus rendering helpers.  ``str(graph)`` is the source."""

    def __init__(self, source):
        self.source = source

    def __str__(self):
        return self.source

    def __repr__(self):
        return f"Graph({len(self.source.splitlines())} lines of DOT)"

    def pipe(self, format="svg"):
        """The rendered picture as bytes (requires Graphviz's ``dot``)."""
        exe = shutil.which("dot")
        if exe is None:
            raise RuntimeError("rendering needs the Graphviz 'dot' program (e.g. apt-get install "
                               "graphviz); the DOT text is in .source")
        res = subprocess.run([exe, f"-T{format}"], input=self.source.encode(),
                             capture_output=True, check=False)
        if res.returncode != 0:
            raise RuntimeError(f"dot failed: {res.stderr.decode(errors='replace')}")
        return res.stdout

    def render(self, path, format=None):
        """Write the picture to ``path`` (format from the extension: png, svg, pdf)."""
        fmt = format or str(path).rsplit(".", 1)[-1]
        data = self.source.encode() if fmt == "dot" else self.pipe(fmt)
        with open(path, "wb") as f:
            f.write(data)
        return path

    def _repr_svg_(self):  # Jupyter shows the picture when dot is installed
        try:
            return self.pipe("svg").decode()
        except RuntimeError:
            return None


def _q(text):
    """A DOT string literal (quotes and backslashes escaped, newlines as \n)."""
    s = str(text).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return '"' + s + '"'


def _shape(shape):
    return "(" + ", ".join(str(s) for s in shape) + ")"


def draw_graph(root, params=None, rankdir="LR", show_values=True):
    """Draw what ``root`` was computed from.

    ``root``: a Tensor with a grad_fn, or an ``ember.scalar.Value``.
    ``params``: optional dict name -> tensor (e.g. ``dict(model.named_parameters())``)
    to label leaves.
    """
    from .scalar import Value
    if isinstance(root, Value):
        return Graph(_value_dot(root, rankdir, show_values))
    return Graph(_tensor_dot(root, params or {}, rankdir))


def _tensor_dot(root, params, rankdir):
    from .autograd.function import AccumulateGrad
    names = {id(t): n for n, t in params.items()}
    lines = ["digraph ember {", f"  rankdir={rankdir};",
             '  node [fontname="Helvetica", fontsize=10];']
    dt = root.dtype.name
    lines.append(f'  out [label={_q("output " + _shape(root.shape) + " " + dt)}, shape=box, '
                 'style=filled, fillcolor="#c8e6c9"];')
    if root.grad_fn is None:
        lines.append("}")
        return "\n".join(lines)
    ids = {}

    def nid(node):
        if id(node) not in ids:
            ids[id(node)] = f"n{len(ids)}"
        return ids[id(node)]

    lines.append(f"  {nid(root.grad_fn)} -> out;")
    stack, seen = [root.grad_fn], set()
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node, AccumulateGrad):
            v = node.variable
            label = names.get(id(v), "leaf")
            label = f"{label}\n{_shape(v.shape)} {v.dtype.name}"
            lines.append(f'  {nid(node)} [label={_q(label)}, shape=box, style=filled, '
                         'fillcolor="#bbdefb"];')
            continue
        lines.append(f'  {nid(node)} [label={_q(node.name())}, shape=ellipse];')
        for e in node._next:
            if e is None:
                continue
            nxt = e[0]
            shape = e[2] if len(e) > 2 else ()
            lines.append(f'  {nid(nxt)} -> {nid(node)} [label={_q(_shape(shape))}, fontsize=8];')
            stack.append(nxt)
    lines.append("}")
    return "\n".join(lines)


def _value_dot(root, rankdir, show_values):
    lines = ["digraph ember {", f"  rankdir={rankdir};",
             '  node [fontname="Helvetica", fontsize=10];']
    stack, seen = [root], set()
    while stack:
        v = stack.pop()
        if id(v) in seen:
            continue
        seen.add(id(v))
        vid = f"v{id(v)}"
        text = (v.label + " | " if v.label else "") + (
            f"data {v.data:.4f} | grad {v.grad:.4f}" if show_values else "")
        lines.append(f"  {vid} [label={_q('{' + text + '}')}, shape=record];")
        if v._op:
            oid = f"{vid}op"
            lines.append(f"  {oid} [label={_q(v._op)}, shape=circle];")
            lines.append(f"  {oid} -> {vid};")
            for c in v._prev:
                lines.append(f"  v{id(c)} -> {oid};")
                stack.append(c)
    lines.append("}")
    return "\n".join(lines)
