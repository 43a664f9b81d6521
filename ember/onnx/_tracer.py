"""The recorder behind ``ember.onnx.export``: run one forward pass and keep
every op it ran.

Every Ember op that runs without an autograd graph goes through
``_run_unrecorded`` in ember/autograd/function.py.  While a ``Tracer`` is
installed (``function._tracer``), its ``record`` takes that function's place
(``Op.apply`` looks the name up at each call): it runs the op with the
original function and appends an ``Event``: the Op class, its arguments as
given (Tensors, numbers, shapes...) and its output Tensors.  The exporter (``_export.py``) later turns the events into
ONNX nodes with the converters of ``_converters.py``.

The trace runs under ``no_grad`` so every op takes that path (Python's
``a + b`` included: its fast path steps aside while ``elementwise._TRACING``).
The recorder keeps every Tensor it saw alive, so ``id(tensor)`` names one
value for the whole export.  In-place writes are recorded as ``Assign``
events (the tensor's new value is another op's output); every Tensor
argument's version counter is kept too, so a value changed behind the
recorder's back (a fast in-place update) is refused rather than exported
stale.
"""
import threading

from ..autograd import function as _function
from ..ops import elementwise as _elementwise
from ..autograd.grad_mode import no_grad

__all__ = ["Event", "Assign", "Tracer", "trace", "is_tracing"]


class Assign:
    """Marks an in-place write in the event list: ``outs[0]`` now holds the
    value of ``args[0]`` (the op that computed it was recorded before)."""


class Event:
    """One op run during the trace."""

    __slots__ = ("op", "args", "kwargs", "outs", "versions", "out_versions")

    def __init__(self, op, args, kwargs, outs):
        self.op, self.args, self.kwargs, self.outs = op, args, kwargs, outs
        # the version counters of the Tensor arguments as the op read them and of
        # the outputs as it made them: the exporter compares the two to find a
        # value changed in place between (where it cannot follow)
        self.versions = tuple(a._vc[0] if hasattr(a, "_vc") else None for a in args)
        self.out_versions = tuple(o._vc[0] if hasattr(o, "_vc") else None for o in outs)

    @property
    def name(self):
        """The op's name for messages: ``Relu``, ``_LSTMLayer`` as ``LSTMLayer``."""
        return "Assign" if self.op is Assign else self.op.__name__.lstrip("_")


class Tracer:
    """Records the ops one thread runs while installed (see ``trace``)."""

    def __init__(self, run):
        self.events = []
        self.thread = threading.get_ident()
        self._run = run         # the real _run_unrecorded
        self._busy = False      # inside an op: its own inner ops are not the model's

    def record(self, cls, args, kwargs):
        if self._busy or threading.get_ident() != self.thread:
            return self._run(cls, args, kwargs)     # (another thread's op: not the model's)
        self._busy = True
        try:
            out = self._run(cls, args, kwargs)
        finally:
            self._busy = False
        self.events.append(Event(cls, args, dict(kwargs), out if type(out) is tuple else (out,)))
        return out

    def assign(self, target, value):
        if not self._busy and threading.get_ident() == self.thread:
            self.events.append(Event(Assign, (value,), {}, (target,)))


is_tracing = _function.is_tracing   # (defined low, where nn code may ask it)


def trace(fn, args, kwargs):
    """Run ``fn(*args, **kwargs)`` under a new recorder; returns (events, result)."""
    if _function._tracer is not None:
        raise RuntimeError("ember.onnx.export: an export is already tracing (exports cannot nest "
                           "or run in two threads at once)")
    run = _function._run_unrecorded
    tracer = Tracer(run)
    _function._tracer = tracer
    _function._run_unrecorded = tracer.record
    _elementwise._TRACING = True
    try:
        with no_grad():
            result = fn(*args, **kwargs)
    finally:
        _elementwise._TRACING = False
        _function._run_unrecorded = run
        _function._tracer = None
    return tracer.events, result
