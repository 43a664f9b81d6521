"""What an Op keeps on ctx for backward: named fields, declared in ``_ctx_fields``.

Each built-in Op stores the non-tensor facts its backward needs as named ctx
attributes (``ctx.axes``, ``ctx.keepdim``), never a positional tuple, and lists
them in ``_ctx_fields`` so that they are slots of its node class (no dict per
recorded op).  A field an Op forgets to declare still works, only slower; the
scan below catches it.
"""
import ast
import importlib
import inspect
import pkgutil
import textwrap

import pytest

import ember
import ember.nn
import ember.ops
from ember.autograd.function import Function, Node, Op


def _import_all(pkg):
    for m in pkgutil.walk_packages(pkg.__path__, pkg.__name__ + "."):
        importlib.import_module(m.name)


def _builtin_ops():
    _import_all(ember.ops)
    _import_all(ember.nn)
    found, todo = [], list(Op.__subclasses__())
    while todo:
        c = todo.pop()
        todo += c.__subclasses__()
        if c.__module__.startswith("ember.") and c not in found:
            found.append(c)
    return found


def _ctx_stores(fn):
    """Names of the ``ctx.NAME = ...`` stores in ``fn``'s source."""
    fn = getattr(fn, "__func__", fn)
    tree = ast.parse(textwrap.dedent(inspect.getsource(fn)))
    return {n.attr for n in ast.walk(tree)
            if isinstance(n, ast.Attribute) and isinstance(n.ctx, ast.Store)
            and isinstance(n.value, ast.Name) and n.value.id == "ctx"}


def test_every_builtin_op_declares_the_ctx_fields_it_stores():
    ops = _builtin_ops()
    assert len(ops) > 100        # (the scan found the ops at all)
    undeclared = {}
    for op in ops:
        stored = _ctx_stores(op.forward) | _ctx_stores(op.backward)
        missing = {n for n in stored if not hasattr(Node, n)} - set(op._ctx_fields)
        if missing:
            undeclared[op.__qualname__] = sorted(missing)
    assert not undeclared, f"add these to the Ops' _ctx_fields: {undeclared}"


def test_no_builtin_op_keeps_a_positional_tuple_on_ctx():
    # the opaque catch-alls that named fields replaced
    for op in _builtin_ops():
        stored = _ctx_stores(op.forward) | _ctx_stores(op.backward)
        assert not stored & {"meta", "c", "info", "args", "params", "coef"}, op.__qualname__


def test_declared_fields_are_slots_so_a_node_needs_no_dict():
    x = ember.randn(3, 4, requires_grad=True)
    node = x.sum(1, keepdim=True).grad_fn
    assert (node.axes, node.keepdim, node.x_shape) == ((1,), True, (3, 4))
    assert "axes" in type(node).__slots__
    assert vars(node) == {}


def test_a_field_that_would_hide_a_node_attribute_is_refused():
    with pytest.raises(TypeError, match="name"):
        class Bad(Op):
            _ctx_fields = ("name",)       # would hide grad_fn.name()


def test_custom_function_ctx_keeps_any_attribute():
    class Scale(Function):
        @staticmethod
        def forward(ctx, x, k):
            ctx.k = k                     # not declared: kept in the node's dict
            return x * k

        @staticmethod
        def backward(ctx, g):
            return g * ctx.k, None

    x = ember.ones(2, requires_grad=True)
    Scale.apply(x, 3.0).sum().backward()
    assert x.grad.tolist() == [3.0, 3.0]
