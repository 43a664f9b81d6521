"""Nested containers of tensors ("pytrees"), as torch.utils._pytree reads them.

A tree is a tuple, list, dict (or OrderedDict) or namedtuple holding trees;
anything else is a leaf.  ``tree_flatten`` lists the leaves in a fixed
order (dicts in insertion order, as torch) with a spec to rebuild the same
structure around new leaves.  ember.func uses it for inputs, outputs and
``in_dims``/``out_dims``.
"""
from collections import OrderedDict


class TreeSpec:
    """The structure of a tree: the container type, its keys (dict) and
    its children's specs; a leaf's spec has ``kind`` None."""

    __slots__ = ("kind", "context", "children")

    def __init__(self, kind, context, children):
        self.kind, self.context, self.children = kind, context, children

    @property
    def num_leaves(self):
        return 1 if self.kind is None else sum(c.num_leaves for c in self.children)

    def is_leaf(self):
        return self.kind is None

    def __eq__(self, other):
        return (isinstance(other, TreeSpec) and self.kind == other.kind
                and self.context == other.context and self.children == other.children)

    def __repr__(self):
        if self.kind is None:
            return "*"
        name = self.kind.__name__
        return f"TreeSpec({name}, {self.context!r}, [{', '.join(map(repr, self.children))}])"


LEAF = TreeSpec(None, None, [])


def _is_namedtuple(x):
    return isinstance(x, tuple) and hasattr(type(x), "_fields")


def tree_flatten(tree):
    """(leaves, spec)."""
    leaves = []
    spec = _flatten(tree, leaves)
    return leaves, spec


def _flatten(tree, leaves):
    t = type(tree)
    if t is tuple or t is list:
        return TreeSpec(t, None, [_flatten(x, leaves) for x in tree])
    if _is_namedtuple(tree):
        return TreeSpec(t, None, [_flatten(x, leaves) for x in tree])
    if isinstance(tree, dict):
        keys = list(tree)
        return TreeSpec(type(tree), keys, [_flatten(tree[k], leaves) for k in keys])
    leaves.append(tree)
    return LEAF


def tree_unflatten(leaves, spec):
    """The tree of structure ``spec`` holding ``leaves`` (in flatten's order)."""
    it = iter(leaves)
    out = _build(it, spec)
    return out


def _build(it, spec):
    kind = spec.kind
    if kind is None:
        return next(it)
    children = [_build(it, c) for c in spec.children]
    if kind is tuple or kind is list:
        return kind(children)
    if issubclass(kind, tuple):                 # a namedtuple
        return kind(*children)
    if issubclass(kind, OrderedDict):
        return kind(zip(spec.context, children))
    return kind(zip(spec.context, children))


def tree_leaves(tree):
    return tree_flatten(tree)[0]


def tree_map(fn, tree):
    leaves, spec = tree_flatten(tree)
    return tree_unflatten([fn(x) for x in leaves], spec)


def broadcast_prefix(prefix, tree, what="in_dims"):
    """The leaves of ``prefix`` spread over ``tree``'s leaves: a leaf of the
    prefix (an int, None) stands for every leaf of the matching subtree.
    Raises ValueError when the structures do not match."""
    out = []
    _spread(prefix, tree, out)
    return out


def _spread(prefix, tree, out):
    if not isinstance(prefix, (tuple, list, dict)):
        out.extend([prefix] * len(tree_leaves(tree)))
        return
    if isinstance(prefix, dict):
        if not isinstance(tree, dict) or set(prefix) != set(tree):
            raise ValueError("structure mismatch")
        for k in tree:
            _spread(prefix[k], tree[k], out)
        return
    if not isinstance(tree, (tuple, list)) or len(prefix) != len(tree):
        raise ValueError("structure mismatch")
    for p, t in zip(prefix, tree):
        _spread(p, t, out)
