"""bfloat16 on NumPy, through ``ml_dtypes`` (the NumPy dtype package JAX uses).

NumPy has no bfloat16; ``ml_dtypes`` adds one whose casts round to nearest
even, as torch's do.  It is optional and loaded on first use of
``ember.bfloat16`` (``_dtype._load_bfloat16``), so ``import ember`` never
needs it; this module holds the state that loading sets and the widening.

How ops compute in bfloat16, as torch's CPU kernels do: widen the bfloat16
inputs to float32, run the op's ordinary float32 code, round the result to
bfloat16 once.  That happens in one place, the op dispatch
(``ember/autograd/function.py``: ``Op.apply`` hands a bfloat16 call to
``widened(cls)``, a twin of the op class built here); no op knows about
bfloat16.  The check costs float32 code one attribute read per op
(``state.on``), which stays False until bfloat16 is first used.
"""
import numpy as np

from .backends import ARRAY_TYPES as _ARRAY_TYPES

_F32 = np.dtype(np.float32)
_pyfloat = float


class _State:
    """``on``: bfloat16 has been loaded, so ``Op.apply`` takes the path that
    checks its arguments for it.  ``dtype``: the NumPy bfloat16 dtype once
    loaded (None before).  Instance attributes, set in __init__: CPython
    reads those ~3x faster than class defaults, and ``on`` is read per op."""

    def __init__(self):
        self.on = False
        self.dtype = None


state = _State()


def is_bf16(np_dtype):
    """True for ml_dtypes' bfloat16 (once loaded)."""
    return np_dtype is state.dtype or (state.dtype is not None and np_dtype == state.dtype)


def is_float(np_dtype):
    """True for NumPy float dtypes and bfloat16 (whose NumPy kind is 'V')."""
    return np_dtype.kind == "f" or is_bf16(np_dtype)


# ---- widening: an op class's bfloat16 twin ---------------------------------------------

def plan(arrays):
    """How an op call on these raw arguments runs: None when no argument is a bfloat16
    array (run as usual), else True when its float32 results are to be rounded to
    bfloat16: every floating array argument is bfloat16 (torch's promotion has already
    cast mixed operands) and no argument names another result dtype (``sum(dtype=)``
    passes a NumPy type).  False when not: bfloat16 met a wider type, and the result
    keeps it."""
    bf = state.dtype
    seen = False
    wider = False
    for a in arrays:
        if _is_array(a):
            dt = a.dtype
            if dt is bf:
                seen = True
            elif dt.kind == "f":
                wider = True
        elif isinstance(a, np.dtype) or isinstance(a, type) and issubclass(a, np.generic):
            wider = wider or np.dtype(a) != bf
    if not seen:
        return None
    return not wider


def _is_array(x):
    return isinstance(x, np.ndarray) or type(x) in _ARRAY_TYPES


def _widen(x):
    return x.astype(_F32) if _is_array(x) and x.dtype is state.dtype else x


def _round(x):
    return x.astype(state.dtype) if _is_array(x) and x.dtype == _F32 else x


_TWINS = {}


def widened(cls, round_out):
    """The twin of Op class ``cls`` that runs it on widened arrays.

    Its forward widens bfloat16 arguments to float32, runs ``cls.forward`` and (when
    ``round_out``) rounds float32 results to bfloat16.  What forward saved for
    backward is put back in bfloat16 (the caller's arrays, the rounded output), so
    version checks know them and memory stays halved, as torch saves them.  Its
    backward widens incoming gradients and saved bfloat16 arrays and runs
    ``cls.backward``; the engine rounds each input's gradient to the input's dtype.
    Its node class is a subclass of ``cls``'s, with the same name (MulBackward0)
    and fields."""
    key = (cls, round_out)
    twin = _TWINS.get(key)
    if twin is not None:
        return twin

    scalars_in_bf16 = round_out and cls._bf16_scalars

    def forward(ctx, *args, **kwargs):
        wide = [_widen(a) for a in args]
        if scalars_in_bf16:     # (torch's add/sub round a Python float operand first)
            wide = [_pyfloat(np.float32(np.asarray(a, state.dtype))) if type(a) is float else a
                    for a in wide]
        raw = cls.forward(ctx, *wide, **kwargs)
        out = raw
        if round_out:
            out = tuple(_round(o) for o in raw) if type(raw) is tuple else _round(raw)
        saved = getattr(ctx, "_saved", None)
        if type(saved) is tuple:
            back = {id(w): a for w, a in zip(wide, args) if w is not a}
            if round_out:
                pairs = zip(raw, out) if type(raw) is tuple else ((raw, out),)
                back.update((id(r), o) for r, o in pairs if r is not o)
            ctx._saved = tuple(back.get(id(s), s) if s is not None else s for s in saved)
        return out

    def backward(ctx, *grads):
        if ctx._graph:          # (create_graph: Tensors, whose own ops widen)
            return cls.backward(ctx, *grads)
        saved = ctx._saved
        if type(saved) is tuple:
            ctx._saved = tuple(_widen(s) for s in saved)
        try:
            return cls.backward(ctx, *[_widen(g) for g in grads])
        finally:
            ctx._saved = saved

    twin = type(cls.__name__, (cls,), {
        "forward": staticmethod(forward), "backward": staticmethod(backward),
        "_node_name": cls._Node._name, "__module__": cls.__module__})
    # the node keeps cls's slots and name; only its _fn (whose backward runs) is the twin
    twin._Node = type(cls._Node.__name__, (cls._Node,), {"__slots__": (), "_fn": twin})
    _TWINS[key] = twin
    return twin
