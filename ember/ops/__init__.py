"""Every differentiable primitive, one module per family.

Each module lists its public functions in ``__all__``; they become
``ember.<name>`` (ember/__init__.py), and ``ember.Tensor`` (_tensor.py) lists
those that are also methods.  ``methods.py`` holds what exists only as a
method (in-place arithmetic, Python's operators).
"""
from . import elementwise, reduction, shape, linalg, inplace, math, indexing, activation, methods
from . import special, special_functions, misc, complex, spectral, sparse

_MODULES = [elementwise, reduction, shape, linalg, math, indexing, activation, special,
            special_functions, misc, complex, spectral, sparse]


def _public(mod):
    names = getattr(mod, "__all__", None)
    if names is None:
        names = [n for n, v in vars(mod).items()
                 if callable(v) and not n.startswith("_") and getattr(v, "__module__", None) == mod.__name__
                 and not isinstance(v, type)]
    return names


# ---- public names in Python's own messages ----------------------------------------------
# Functions made by factories (``_compare``, ``_bitwise``, ``_nondiff_unary``...)
# have qualnames such as "_compare.<locals>.f", and Python prints the qualname
# in its argument errors ("_compare.<locals>.f() missing 1 required positional
# argument").  Give each the public name torch's messages use ("eq() missing
# ..."); an alias (``less`` for ``lt``) keeps the first, canonical name.  This
# runs once at import: nothing changes on any call.

def give_public_names():
    import types
    generic = ("f", "op", "method", "fn", "wrapper", "<lambda>")

    def name_it(f, name):
        if isinstance(f, types.FunctionType) and "<locals>" in f.__qualname__:
            if f.__name__ in generic:
                f.__name__ = name
            f.__qualname__ = f.__name__

    for mod in _MODULES:
        for name in _public(mod):
            name_it(getattr(mod, name, None), name)
    return name_it


give_public_names()
