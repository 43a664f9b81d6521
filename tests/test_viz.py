"""draw_graph gives parseable DOT for tensors and scalar Values; renders with dot."""
import re
import shutil

import pytest

import ember
from ember.scalar import Value


def _parse_dot(src):
    """Minimal DOT check: one digraph, balanced braces, nodes and edges listed."""
    assert src.startswith("digraph ") and src.rstrip().endswith("}")
    assert src.count("{") - src.count("\\{") >= 1
    edges = re.findall(r"^\s*(\w+) -> (\w+)", src, re.M)
    nodes = dict(re.findall(r"^\s*(\w+) \[label=(\".*?\")", src, re.M))
    for a, b in edges:
        assert a in nodes or a == "out"
        assert b in nodes or b == "out"
    return nodes, edges


def test_tensor_graph_names_ops_and_leaves():
    w = ember.randn(3, 4, requires_grad=True)
    x = ember.randn(2, 3)
    loss = ((x @ w) * 2).sum()
    g = ember.viz.draw_graph(loss, params={"w": w})
    nodes, edges = _parse_dot(g.source)
    labels = " ".join(nodes.values())
    assert "MulBackward0" in labels and "SumBackward0" in labels
    assert "w\\n(3, 4) float32" in labels or "w\n(3, 4) float32" in labels
    assert str(g) == g.source
    assert len(edges) >= 4


def test_scalar_graph_shows_data_and_grad():
    a, b = Value(2.0, label="a"), Value(-3.0, label="b")
    c = a * b + a
    c.backward()
    nodes, edges = _parse_dot(ember.viz.draw_graph(c).source)
    text = " ".join(nodes.values())
    assert "data 2.0000" in text and "grad -2.0000" in text and '"*"' in text


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz dot not installed")
def test_render_png(tmp_path):
    x = ember.randn(2, requires_grad=True)
    p = ember.viz.draw_graph((x * x).sum()).render(tmp_path / "g.png")
    assert open(p, "rb").read(8) == b"\x89PNG\r\n\x1a\n"


def test_render_without_dot_raises_clearly(monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    g = ember.viz.draw_graph((ember.randn(2, requires_grad=True) * 2).sum())
    with pytest.raises(RuntimeError, match="Graphviz"):
        g.pipe("png")
