"""``ember.onnx.export``: trace a model, turn the trace into an ONNX graph.

How it works (README, "Export to ONNX", says what this means for users):

1. ``_tracer.trace`` runs the model once on the example inputs and keeps
   every op (``Event``).
2. It runs the model a second time on *other* inputs: the same tensors with
   their values rolled, and every dynamic axis (``dynamic_axes``) one or
   two sizes longer (or shorter).  The two traces must run the same ops.
   Whatever differs between them tells the exporter what depends on the
   inputs: a constant that differs was computed from the inputs outside
   Ember's ops (refused: the trace would bake it in), and a size that
   differs follows a dynamic axis (``B, T = x.shape`` then ``view(B, T, 4,
   8)``), which the graph then reads from the input's ``Shape`` at run time.
3. ``Builder`` walks the first trace.  Graph inputs and parameters (ONNX
   initializers named by their ``state_dict`` names) are values; each event
   becomes nodes through its converter (``_converters.CONVERTERS``, one
   function per Ember op); an event that reads only constants is folded
   into a constant (``do_constant_folding``).
"""
import enum
import inspect
import os
import warnings

import numpy as np

from .._tensor_base import TensorBase, _address
from ..backends import ARRAY_TYPES, backend_of
from . import _tracer
from ._tracer import Assign
from .errors import OnnxExporterError, UnsupportedOperatorError

DEFAULT_OPSET = 20          # torch 2.13's default for its TorchScript exporter
MIN_OPSET, MAX_OPSET = 17, 23   # 17: LayerNormalization; 23: what onnxruntime runs today


class TrainingMode(enum.IntEnum):
    """The mode the model is traced in (torch.onnx.TrainingMode)."""
    EVAL = 0
    PRESERVE = 1
    TRAINING = 2


def _host(a):
    """A backend array as a NumPy array (the CPU's own arrays pass through)."""
    return np.asarray(backend_of(a).to_host(a))


def _is_array(a):
    return type(a) is np.ndarray or type(a) in ARRAY_TYPES


# ---- values as the converters see them -------------------------------------------------

class V:
    """A tensor argument of an op, for its converter: ``name`` (the ONNX value;
    made on first use for constants), ``shape`` and ``dtype`` (NumPy) from the
    first trace, ``const`` (a NumPy array when the value is a constant, else
    None)."""

    __slots__ = ("_g", "_name", "shape", "dtype", "const", "_const_b", "param")

    def __init__(self, g, name, shape, dtype, const=None, const_b=None, param=None):
        self._g, self._name, self.shape, self.dtype = g, name, tuple(shape), np.dtype(dtype)
        self.const, self._const_b, self.param = const, const_b, param

    @property
    def name(self):
        if self._name is None:
            self._name = self._g.constant_value(self.const, self._const_b)
        return self._name

    @property
    def ndim(self):
        return len(self.shape)

    def __repr__(self):
        return f"V({self._name}, {self.shape}, {self.dtype})"


class _Sym:
    """A dynamic axis: its name, its size in each trace, and where to read it
    at run time (graph input ``source``, axis ``axis``)."""

    def __init__(self, name, size_a, size_b, source, axis):
        self.name, self.size_a, self.size_b = name, size_a, size_b
        self.source, self.axis = source, axis


# ---- the graph under construction -------------------------------------------------------

class Builder:
    """Collects nodes and initializers; the helpers converters call."""

    def __init__(self, onnx, opset, syms):
        self.onnx, self.helper = onnx, onnx.helper
        self.opset = opset
        self.syms = syms
        self.nodes, self.initializers = [], []
        self._used = set()
        self._counter = 0
        self._sym_values = {}
        # set per event by the exporter, read through other() / outs
        self.current = None    # the Op class being converted
        self.event_b = None
        self.outs = ()

    # -- names and nodes
    def fresh(self, hint):
        hint = hint.replace("::", "_")
        name = hint
        while name in self._used:
            self._counter += 1
            name = f"{hint}_{self._counter}"
        self._used.add(name)
        return name

    def op(self, op_type, *inputs, outputs=1, **attrs):
        """Add a node; ``inputs`` are value names or V's (None: an omitted
        optional input).  Returns the output name, or a tuple of names."""
        names = [("" if i is None else (i.name if isinstance(i, V) else i)) for i in inputs]
        while names and names[-1] == "":
            names.pop()
        outs = [self.fresh(f"{op_type.lower()}_out") for _ in range(outputs)]
        attrs = {k: v for k, v in attrs.items() if v is not None}
        self.nodes.append(self.helper.make_node(op_type, names, outs,
                                                name=self.fresh(f"/{op_type}"), **attrs))
        return outs[0] if outputs == 1 else tuple(outs)

    def initializer(self, array, hint="const"):
        array = np.asarray(array, order="C")     # (not ascontiguousarray: it makes 0-d 1-d)
        name = self.fresh(hint)
        self.initializers.append(self.onnx.numpy_helper.from_array(array, name))
        return name

    def const(self, value, dtype):
        """A constant tensor (an initializer) of ``value`` as ``dtype``."""
        return self.initializer(np.asarray(value, dtype=dtype))

    def i64(self, values):
        """A 1-D int64 constant."""
        return self.initializer(np.asarray(values, dtype=np.int64).reshape(-1))

    def scalar_like(self, value, dtype):
        """A 0-d constant of ``dtype`` (a Python number operand of an op)."""
        return self.initializer(np.asarray(value, dtype=dtype))

    def other(self, i):
        """Argument ``i`` of this event in the second trace (raw: Tensors as they
        were), for converters whose arguments carry sizes."""
        return self.event_b.args[i]

    # -- sizes that follow dynamic axes
    def _sym_value(self, sym):
        """A 1-element int64 tensor: the run-time size of a dynamic axis."""
        if sym.name not in self._sym_values:
            self._sym_values[sym.name] = self.op("Shape", sym.source, start=sym.axis,
                                                 end=sym.axis + 1)
        return self._sym_values[sym.name]

    def size_piece(self, a, b):
        """The run-time value (a 1-element int64 tensor name) of a size that is
        ``a`` in the first trace and ``b`` in the second, or None when no
        dynamic axis (or product of two) explains it."""
        for s in self.syms:
            if (s.size_a, s.size_b) == (a, b):
                return self._sym_value(s)
        for i, s in enumerate(self.syms):
            for t in self.syms[i:]:
                if (s.size_a * t.size_a, s.size_b * t.size_b) == (a, b):
                    return self.op("Mul", self._sym_value(s), self._sym_value(t))
        return None

    def dims(self, sizes_a, sizes_b, infer=False, what="a size"):
        """A 1-D int64 tensor of sizes: constant where both traces agree, read
        from the inputs' shapes where a size follows a dynamic axis; with
        ``infer``, one size nothing explains may become -1 (Reshape's rule)."""
        sizes_a, sizes_b = [int(v) for v in sizes_a], [int(v) for v in sizes_b]
        if len(sizes_a) != len(sizes_b):
            raise OnnxExporterError(f"{what} has a different length in the two traces")
        pieces, run, inferred = [], [], -1 in sizes_a
        for a, b in zip(sizes_a, sizes_b):
            if a == b:
                run.append(a)
                continue
            piece = self.size_piece(a, b)
            if piece is None:
                if not infer or inferred:
                    raise OnnxExporterError(
                        f"{what} ({sizes_a}) changes with the inputs' sizes in a way the tracer "
                        f"cannot follow (a size is {a} in one trace and {b} in the other); "
                        f"mark fewer axes dynamic or compute it from the tensors' own shapes")
                inferred = True
                run.append(-1)
                continue
            if run:
                pieces.append(self.i64(run))
                run = []
            pieces.append(piece)
        if run:
            pieces.append(self.i64(run))
        if not pieces:
            return self.i64([])
        return pieces[0] if len(pieces) == 1 else self.op("Concat", *pieces, axis=0)

    # -- constants
    def constant_value(self, a, b):
        """The ONNX value of a constant that is ``a`` in the first trace and ``b``
        in the second: an initializer when they agree, else a Range or a
        ConstantOfShape whose size follows a dynamic axis."""
        if b is None or (a.shape == b.shape and a.dtype == b.dtype and np.array_equal(a, b, equal_nan=True)):
            return self.initializer(a)
        if a.dtype == b.dtype and a.ndim == b.ndim:
            filled = self._filled(a, b)
            if filled is not None:
                return filled
            ranged = self._range(a, b)
            if ranged is not None:
                return ranged
        raise OnnxExporterError(
            f"a constant of shape {list(a.shape)} ({a.dtype}) takes other values when the "
            f"inputs change: it was computed from the inputs outside Ember's ops (.item(), "
            f".tolist(), .numpy() ...) or from their sizes in a way the tracer cannot follow; "
            f"the exported graph would bake in this trace's value")

    def _filled(self, a, b):
        """``full(size, c)`` whose size follows dynamic axes: ConstantOfShape."""
        if a.size == 0 or b.size == 0:
            return None
        c = a.reshape(-1)[0]
        if not ((a == c).all() and (b == c).all()):
            return None
        try:
            shape = self.dims(a.shape, b.shape)
        except OnnxExporterError:
            return None
        return self.op("ConstantOfShape", shape,
                       value=self.onnx.numpy_helper.from_array(np.asarray([c], dtype=a.dtype)))

    def _range(self, a, b):
        """``arange(start, start + n * step, step)`` with n a dynamic axis: Range."""
        if a.ndim != 1 or len(a) < 2 or len(b) < 2 or a.dtype.kind not in "iuf":
            return None
        start, step = a[0], a[1] - a[0]
        if b[0] != start or b[1] - b[0] != step or step == 0:
            return None
        if not (np.array_equal(a, start + step * np.arange(len(a), dtype=a.dtype))
                and np.array_equal(b, start + step * np.arange(len(b), dtype=b.dtype))):
            return None
        n = self.size_piece(len(a), len(b))
        if n is None:
            return None
        dt = a.dtype
        n = self.op("Cast", self.op("Reshape", n, self.i64([])), to=self.np_to_onnx(dt))
        limit = self.op("Add", self.scalar_like(start, dt), self.op("Mul", n, self.scalar_like(step, dt)))
        return self.op("Range", self.scalar_like(start, dt), limit, self.scalar_like(step, dt))

    def np_to_onnx(self, dtype):
        return self.helper.np_dtype_to_tensor_dtype(np.dtype(dtype))

    # -- small recipes several converters share
    def cast(self, v, dtype):
        """``v`` (a V) as ``dtype``: the same name when it already is."""
        if np.dtype(v.dtype) == np.dtype(dtype):
            return v.name
        return self.op("Cast", v, to=self.np_to_onnx(dtype))

    def reduce(self, op_type, x, axes, keepdims):
        """ReduceSum/ReduceMean/ReduceMax over ``axes`` (their axes moved from an
        attribute to an input in opset 18; ReduceSum's in 13)."""
        if op_type == "ReduceSum" or self.opset >= 18:
            return self.op(op_type, x, self.i64(axes), keepdims=int(keepdims))
        return self.op(op_type, x, axes=list(axes), keepdims=int(keepdims))


# ---- export -----------------------------------------------------------------------------

def _flatten(obj, path, out):
    """(path, Tensor) pairs of a nested argument/result, in order."""
    if isinstance(obj, TensorBase):
        out.append((path, obj))
    elif isinstance(obj, (list, tuple)):
        for i, o in enumerate(obj):
            _flatten(o, f"{path}_{i}" if path else str(i), out)
    elif isinstance(obj, dict):
        for k, o in obj.items():
            _flatten(o, f"{path}_{k}" if path else str(k), out)
    return out


def _rebuild(obj, new):
    """``obj`` with its Tensors replaced, in ``_flatten``'s order, from iterator ``new``."""
    if isinstance(obj, TensorBase):
        return next(new)
    if isinstance(obj, (list, tuple)):
        items = [_rebuild(o, new) for o in obj]
        return type(obj)(items) if type(obj) in (list, tuple) else type(obj)(*items)
    if isinstance(obj, dict):
        return type(obj)((k, _rebuild(o, new)) for k, o in obj.items())
    return obj


def _same(a, b):
    """Whether two non-tensor op arguments (numbers, shapes, slices, geometry
    objects, arrays) are equal."""
    if _is_array(a) or _is_array(b):
        if not (_is_array(a) and _is_array(b)):
            return False
        a, b = _host(a), _host(b)
        return a.shape == b.shape and a.dtype == b.dtype and np.array_equal(a, b, equal_nan=a.dtype.kind == "f")
    if type(a) is not type(b):
        return False
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, slice):
        return _same((a.start, a.stop, a.step), (b.start, b.stop, b.step))
    if isinstance(a, float) and a != a:
        return b != b
    slots = [s for c in type(a).__mro__ for s in getattr(c, "__slots__", ())]
    if slots or hasattr(a, "__dict__"):
        fields = [s for s in slots if hasattr(a, s)] + list(getattr(a, "__dict__", {}))
        return all(_same(getattr(a, f, None), getattr(b, f, None)) for f in fields)
    return a == b


def _dynamic_axes(dynamic_axes, names):
    """torch's ``dynamic_axes`` (``{name: {axis: "label"}}`` or ``{name: [axes]}``)
    as ``{name: {axis: label}}``; unnamed axes get torch's ``name_dynamic_axes_k``."""
    out = {}
    for name, axes in (dynamic_axes or {}).items():
        if name not in names:
            warnings.warn(f"Provided key {name} for dynamic axes is not a valid input/output name")
            continue
        if isinstance(axes, dict):
            out[name] = {int(k): str(v) for k, v in axes.items()}
        elif isinstance(axes, (list, tuple)):
            out[name] = {int(k): f"{name}_dynamic_axes_{i + 1}" for i, k in enumerate(axes)}
        else:
            raise TypeError(f"dynamic_axes[{name!r}] must be a dict or a list of axes, "
                            f"got {type(axes).__name__}")
    return out


def _perturbed(t, sizes):
    """The second trace's input: ``t`` with axes resized (``{axis: n}``, rows
    repeated cyclically) and its values rolled by one place, and floats also
    moved by ``x * 0.75 + 0.125`` (which keeps [0, 1] and the positives in
    themselves, and changes sums and maxima, which a roll does not)."""
    import ember
    x = t.detach()
    for axis, n in sizes.items():
        x = x.index_select(axis, ember.arange(n, device=x.device) % x.shape[axis])
    if x.numel() > 1:
        x = x.reshape(-1).roll(1).reshape(x.shape)
    if x.is_floating_point():
        x = x * 0.75 + 0.125
    return x.clone()


def _second_inputs(inputs, dyn, input_names, step):
    """The inputs of the second trace and the sizes each dynamic axis takes
    there: label k (in order of appearance) grows by ``step * (k + 1)``, so no
    two labels change alike."""
    labels, sizes = [], {}
    for name, (_, t) in zip(input_names, inputs):
        for axis, label in sorted(dyn.get(name, {}).items()):
            if axis >= t.dim() or axis < -t.dim():
                raise ValueError(f"dynamic_axes: input {name!r} has {t.dim()} dims, no axis {axis}")
            n = t.shape[axis]
            if label not in sizes:
                labels.append(label)
                sizes[label] = (n, n + step * len(labels))
            elif sizes[label][0] != n:
                raise ValueError(f"dynamic_axes: axis {label!r} has size {sizes[label][0]} and {n} "
                                 f"in the example inputs")
    if any(new < 2 for _, new in sizes.values()):
        return None, None
    new = [_perturbed(t, {a % t.dim(): sizes[lab][1] for a, lab in dyn.get(name, {}).items()})
           for name, (_, t) in zip(input_names, inputs)]
    return new, sizes


def _check_same_ops(ea, eb):
    if len(ea) != len(eb) or any(a.op is not b.op for a, b in zip(ea, eb)):
        at = next((i for i, (a, b) in enumerate(zip(ea, eb)) if a.op is not b.op), min(len(ea), len(eb)))
        what = (f"op {at} is {ea[at].name if at < len(ea) else 'missing'} in one run and "
                f"{eb[at].name if at < len(eb) else 'missing'} in the other")
        raise OnnxExporterError(
            f"the model runs different ops for other input values or sizes ({what}): tracing "
            f"records one path through Python control flow, so this model cannot be exported "
            f"with these inputs/dynamic_axes")


def _set_mode(model, training):
    """Put ``model`` in the mode torch exports in; returns the modes to restore."""
    if not hasattr(model, "modules"):
        return None
    saved = [(m, m.training) for m in model.modules()]
    if training == TrainingMode.EVAL:
        model.train(False)
    elif training == TrainingMode.TRAINING:
        model.train(True)
    return saved


def _params(model):
    """id(tensor) and id(array) -> state_dict name, for parameters and buffers."""
    names = {}
    if hasattr(model, "named_parameters"):
        for n, p in list(model.named_parameters()) + list(model.named_buffers()):
            names.setdefault(id(p), (n, p))
            names.setdefault(id(p._data), (n, p))
    return names


def export(model, args=(), f=None, *, kwargs=None, verbose=None, input_names=None,
           output_names=None, opset_version=None, dynamo=True, external_data=True,
           dynamic_shapes=None, export_params=True, keep_initializers_as_inputs=False,
           dynamic_axes=None, training=TrainingMode.EVAL, do_constant_folding=True):
    """Export ``model`` (a Module or a function of tensors) to ONNX by tracing
    ``model(*args, **kwargs)``; writes ``f`` (a path or a binary file object).

    ``input_names``/``output_names`` name the graph's tensor inputs (default:
    the forward's parameter names) and outputs (default ``output``,
    ``output_0``...); ``dynamic_axes`` (``{name: {axis: "label"}}`` or
    ``{name: [axes]}``) makes those sizes symbolic; parameters and buffers
    become initializers named as in ``state_dict()``.  ``opset_version``: 17
    to 23 (default 20, torch's).  Returns None when ``f`` is given (as
    torch's TorchScript exporter), else the ``onnx.ModelProto``.

    Differs from torch: Ember has only the tracing exporter (``dynamo`` is
    accepted and ignored; ``dynamic_shapes`` is refused: use
    ``dynamic_axes``), and the model runs twice (see ``_export.py``).
    """
    try:
        import onnx
        import onnx.printer  # noqa: F401  (verbose)
    except ImportError as e:   # (an optional dependency: pip install 'ember[interop]')
        raise ImportError("ember.onnx.export needs the onnx package: pip install onnx") from e
    if dynamic_shapes is not None:
        raise OnnxExporterError("dynamic_shapes belongs to torch's dynamo exporter; Ember "
                                "traces: describe dynamic sizes with dynamic_axes")
    if f is not None and not isinstance(f, (str, os.PathLike)) and not hasattr(f, "write"):
        raise TypeError(f"f must be a path or a binary file object, got {type(f).__name__}")
    opset = DEFAULT_OPSET if opset_version is None else int(opset_version)
    if not MIN_OPSET <= opset <= MAX_OPSET:
        raise ValueError(f"Unsupported ONNX opset version: {opset}. Ember exports opsets "
                         f"{MIN_OPSET} to {MAX_OPSET}")
    if isinstance(args, TensorBase):
        args = (args,)
    elif not isinstance(args, tuple):
        args = tuple(args) if isinstance(args, list) else (args,)
    if kwargs is None and args and isinstance(args[-1], dict):
        args, kwargs = args[:-1], args[-1]          # (torch's legacy spelling)
    kwargs = dict(kwargs or {})

    # the graph's inputs: every tensor in args / kwargs, named
    fn = model.forward if hasattr(model, "forward") else model
    try:
        params = [p for p in inspect.signature(fn).parameters.values()
                  if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    except (TypeError, ValueError):
        params = []
    inputs = []
    for i, a in enumerate(args):
        _flatten(a, params[i].name if i < len(params) else f"input_{i}", inputs)
    for k, a in kwargs.items():
        _flatten(a, k, inputs)
    names = list(input_names or [])[:len(inputs)]
    names += [p for p, _ in inputs[len(names):]]
    if len(set(names)) != len(names):
        raise ValueError(f"input names must be unique, got {names}")

    saved_modes = _set_mode(model, training)
    try:
        events, result = _tracer.trace(model, args, kwargs)
        outputs = _flatten(result, "", [])
        out_names = list(output_names or [])[:len(outputs)]
        out_names += ["output" if len(outputs) == 1 else f"output_{i}"
                      for i in range(len(out_names), len(outputs))]
        dyn = _dynamic_axes(dynamic_axes, set(names) | set(out_names))
        events_b, result_b, sizes = _second_trace(model, args, kwargs, inputs, names, dyn, events)
    finally:
        if saved_modes is not None:
            for m, mode in saved_modes:
                m.training = mode

    syms = []
    for name, (_, t) in zip(names, inputs):
        for axis, label in dyn.get(name, {}).items():
            if label in sizes and not any(s.name == label for s in syms):
                syms.append(_Sym(label, *sizes[label], name, axis % t.dim()))
    g = Builder(onnx, opset, syms)
    model_proto = _build(onnx, g, model, events, events_b, inputs, names, outputs,
                         _flatten(result_b, "", []), out_names, dyn, export_params,
                         keep_initializers_as_inputs, do_constant_folding)
    onnx.checker.check_model(model_proto)
    if verbose:
        print(onnx.printer.to_text(model_proto.graph))
    if f is None:
        return model_proto
    if isinstance(f, (str, os.PathLike)):
        onnx.save_model(model_proto, os.fspath(f))
    else:
        f.write(model_proto.SerializeToString())
    return None


def _second_trace(model, args, kwargs, inputs, names, dyn, events):
    """Trace again on changed inputs (see the module docstring); tries longer
    dynamic axes first, then shorter ones."""
    failure = None
    for step in (1, -1):
        new, sizes = _second_inputs(inputs, dyn, names, step)
        if new is None:
            continue
        it = iter(new)
        args_b = _rebuild(args, it)
        kwargs_b = _rebuild(kwargs, it)
        try:
            events_b, result_b = _tracer.trace(model, args_b, kwargs_b)
            _check_same_ops(events, events_b)
            return events_b, result_b, sizes
        except Exception as e:   # (a model that refuses the other sizes: try the next)
            failure = e
            if not any(dyn.values()):
                break
    if isinstance(failure, OnnxExporterError):
        raise failure
    raise OnnxExporterError(
        f"the model failed on inputs {'resized along its dynamic axes and ' if any(dyn.values()) else ''}"
        f"with other values ({type(failure).__name__}: {failure}); the exporter runs the model "
        f"twice to find what depends on the inputs") from failure


def _build(onnx, g, model, events, events_b, inputs, names, outputs, outputs_b, out_names, dyn,
           export_params, keep_initializers_as_inputs, do_constant_folding):
    """Walk the first trace and fill ``g``; returns the ModelProto."""
    from ._converters import CONVERTERS
    helper = onnx.helper
    value = {}           # id(tensor) -> ONNX name (inputs, parameters, computed values)
    by_array = {}        # id(array) -> ONNX name, for a tensor sharing a known array
    version = {}         # id(tensor) -> version counter when its value was made
    param_of = {}        # id(tensor) -> state_dict name
    const = {}           # id(tensor) -> (array in trace 1, array in trace 2), folded values
    keep = []            # (keeps folded arrays' tensors alive: ids stay unique)
    graph_inputs, param_inputs = [], []
    param_names = _params(model)

    def bind(t, name, ver):
        """Tensor ``t`` holds ONNX value ``name`` (made at version ``ver``; None:
        whatever version its first reader sees, for inputs and parameters)."""
        value[id(t)] = name
        by_array[id(t._data)] = name
        version[id(t)] = ver

    for name, (_, t) in zip(names, inputs):
        g._used.add(name)
        bind(t, name, None)
        graph_inputs.append(_value_info(helper, name, t._data.dtype, t.shape,
                                        dyn.get(name, {})))

    def param_value(n, p):
        nm = g.fresh(n)
        arr = _host(p._data)
        if export_params:
            g.initializers.append(onnx.numpy_helper.from_array(np.asarray(arr, order="C"), nm))
        if not export_params or keep_initializers_as_inputs:
            param_inputs.append(_value_info(helper, nm, arr.dtype, arr.shape, {}))
        return nm

    def known(a):
        """Whether argument ``a`` is an input, a parameter or computed from them."""
        if isinstance(a, TensorBase):
            return (id(a) in value or id(a._data) in by_array or id(a) in param_names
                    or id(a._data) in param_names)
        return id(a) in by_array or id(a) in param_names

    def arg_value(ev, ev_b, i, a):
        """Argument ``a`` (i-th) of event ``ev`` as a V."""
        key = id(a)
        if isinstance(a, TensorBase):
            if key not in value and key not in const:
                arr_key = id(a._data)
                if arr_key in by_array:           # (detach(), .data: the same array)
                    bind(a, by_array[arr_key], ev.versions[i])
                elif key in param_names or arr_key in param_names:
                    n, p = param_names.get(key) or param_names[arr_key]
                    bind(a, param_value(n, p), None)
                    param_of[key] = n
            if key in value:
                if version[key] is None:
                    version[key] = ev.versions[i]
                if ev.versions[i] != version[key]:
                    raise OnnxExporterError(
                        f"{ev.name} reads a tensor changed in place by an op the exporter "
                        f"cannot follow (an in-place update under no_grad, such as x.add_(y) "
                        f"or x[i] = y); write it out of place (x = x + y) to export")
                return V(g, value[key], a.shape, a._data.dtype, param=param_of.get(key))
            if key in const:
                ca, cb = const[key]
                return V(g, None, ca.shape, ca.dtype, const=ca, const_b=cb)
            if a.grad_fn is not None:
                raise OnnxExporterError(f"{ev.name} reads a tensor recorded by autograd: the "
                                        f"model enables gradients inside forward, which the "
                                        f"exporter cannot trace")
            b = ev_b.args[i]
            arr = _host(a._data)
            return V(g, None, arr.shape, arr.dtype, const=arr,
                     const_b=_host(b._data) if isinstance(b, TensorBase) else None)
        # a raw array argument: a parameter's own array, a computed value's, or a constant
        if key in by_array:
            return V(g, by_array[key], a.shape, a.dtype)
        if key in param_names:
            n, p = param_names[key]
            name = param_value(n, p)
            by_array[key] = name
            return V(g, name, a.shape, a.dtype, param=n)
        b = ev_b.args[i]
        rows = _rows_of_parameter(a, param_names.values())
        if rows is not None:    # (rows start:stop of a buffer, sliced outside Ember's ops)
            (n, p), start, stop = rows
            rows_b = _rows_of_parameter(b, [(n, p)]) if _is_array(b) else None
            if rows_b is None:
                raise OnnxExporterError(f"{ev.name} reads rows of {n} in one trace only")
            if id(p) not in value:
                bind(p, param_value(n, p), None)
                param_of[id(p)] = n
            name = g.op("Slice", value[id(p)], g.dims([start], [rows_b[1]], what=f"rows of {n}"),
                        g.dims([stop], [rows_b[2]], what=f"rows of {n}"), g.i64([0]))
            return V(g, name, a.shape, a.dtype)
        arr = _host(a)
        return V(g, None, arr.shape, arr.dtype, const=arr, const_b=_host(b) if _is_array(b) else None)

    for ev, ev_b in zip(events, events_b):
        if ev.op is Assign:
            src, dst = ev.args[0], ev.outs[0]
            if id(src) in value:
                bind(dst, value[id(src)], ev.out_versions[0])
            elif id(src) in const:
                const[id(dst)] = const[id(src)]
                keep.append(dst)
            continue
        if len(ev_b.args) != len(ev.args):
            raise OnnxExporterError(f"{ev.name} takes {len(ev.args)} arguments in one trace and "
                                    f"{len(ev_b.args)} in the other (a list whose length follows "
                                    f"the inputs, such as cat([...] * T)), which ONNX cannot express")
        if len(ev_b.outs) != len(ev.outs):
            raise OnnxExporterError(f"{ev.name} makes {len(ev.outs)} outputs in one trace and "
                                    f"{len(ev_b.outs)} in the other: their count follows a "
                                    f"dynamic axis, which ONNX cannot express")
        for a in ev.args:
            if isinstance(a, (list, tuple)) and any(isinstance(x, TensorBase) for x in a):
                raise OnnxExporterError(f"{ev.name}: tensors inside a list argument are not "
                                        f"supported by the exporter")
        all_const = not any(known(a) for a in ev.args if isinstance(a, TensorBase) or _is_array(a))
        outs_a = [_host(o._data) for o in ev.outs]
        outs_b = [_host(o._data) for o in ev_b.outs]
        if do_constant_folding and all_const and all(
                a.shape == b.shape and a.dtype == b.dtype and np.array_equal(a, b, equal_nan=True)
                for a, b in zip(outs_a, outs_b)):
            # only constants in: the result is a constant too (folded)
            for o, a in zip(ev.outs, outs_a):
                const[id(o)] = (a, a)
                keep.append(o)
            continue
        conv = CONVERTERS.get(ev.op)
        if conv is None:
            raise UnsupportedOperatorError(f"{ev.name} ({ev.op.__module__}.{ev.op.__qualname__})",
                                           g.opset)
        if not conv.sizes:
            for i, (a, b) in enumerate(zip(ev.args, ev_b.args)):
                if not (isinstance(a, TensorBase) or _is_array(a)) and not _same(a, b):
                    raise OnnxExporterError(
                        f"{ev.name}'s argument {i} ({a!r}) changes with the inputs "
                        f"({b!r} in the second trace): its converter exports fixed values "
                        f"only; mark fewer axes dynamic")
        vargs = [arg_value(ev, ev_b, i, a) if isinstance(a, TensorBase) or _is_array(a) else a
                 for i, a in enumerate(ev.args)]
        g.current, g.event_b = ev.op, ev_b
        g.outs = [(o.shape, o.dtype) for o in outs_a]
        try:
            res = conv(g, *vargs, **ev.kwargs)
        except OnnxExporterError as e:
            if type(e) is not OnnxExporterError or str(e).startswith(ev.name):
                raise
            raise OnnxExporterError(f"{ev.name}: {e}") from None
        res = res if isinstance(res, tuple) else (res,)
        if len(res) != len(ev.outs):
            raise OnnxExporterError(f"{ev.name}: converter made {len(res)} outputs for "
                                    f"{len(ev.outs)}")
        for o, name, ver in zip(ev.outs, res, ev.out_versions):
            if name is not None:
                bind(o, name, ver)

    graph_outputs = []
    for (_, t), (_, tb), name in zip(outputs, outputs_b, out_names):
        if id(t) in value:
            src = value[id(t)]
        elif id(t) in const:
            src = g.constant_value(*const[id(t)])
        elif id(t._data) in by_array:
            src = by_array[id(t._data)]
        else:
            src = g.constant_value(_host(t._data), _host(tb._data))
        g.nodes.append(helper.make_node("Identity", [src], [name], name=g.fresh("/output")))
        labels = dict(dyn.get(name, {}))
        for axis, (a, b) in enumerate(zip(t.shape, tb.shape)):
            if a != b and axis not in labels:
                sym = next((s for s in g.syms if (s.size_a, s.size_b) == (a, b)), None)
                labels[axis] = sym.name if sym is not None else f"{name}_dim_{axis}"
        graph_outputs.append(_value_info(helper, name, t._data.dtype, t.shape, labels))
    graph = helper.make_graph(g.nodes, "main_graph", graph_inputs + param_inputs, graph_outputs,
                              initializer=g.initializers)
    opsets = [helper.make_opsetid("", g.opset)]
    proto = helper.make_model(graph, opset_imports=opsets, producer_name="ember",
                              ir_version=helper.find_min_ir_version_for(opsets))
    return proto


def _rows_of_parameter(a, params):
    """((name, parameter), start, stop) when array ``a`` is rows start:stop of a
    parameter's or buffer's array (``rope_cos[:T]`` taken with NumPy), else None."""
    base = getattr(a, "base", None)
    if base is None or a.ndim == 0:
        return None
    for n, p in params:
        d = p._data
        if not (base is d or (d.base is not None and base is d.base)) or d.ndim != a.ndim:
            continue
        if a.shape[1:] != d.shape[1:] or a.strides != d.strides or not d.strides[0]:
            continue
        offset = _address(a) - _address(d)     # (host or device memory)
        start, rem = divmod(offset, d.strides[0])
        if rem == 0 and 0 <= start and start + a.shape[0] <= d.shape[0]:
            return (n, p), start, start + a.shape[0]
    return None


def _value_info(helper, name, dtype, shape, labels):
    dims = [labels.get(i, labels.get(i - len(shape), int(n))) for i, n in enumerate(shape)]
    return helper.make_tensor_value_info(name, helper.np_dtype_to_tensor_dtype(np.dtype(dtype)), dims)
