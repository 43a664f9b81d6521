"""``add_graph``'s tracer: run the model once and write down each op it ran
as a node of a TensorFlow ``GraphDef``, the format TensorBoard's graph tab
draws.

Ops are seen through ``ember.autograd._observe`` (every op's forward, raw
arrays in and out); an op's inputs are linked to the node that produced each
array, or to a node for the model input, parameter or constant it is.  Module
forward hooks keep the stack of modules running, which names each node
(``Net/Linear[fc1]/linear.2``) so TensorBoard folds nodes by module.
"""
from tensorboard.compat.proto.attr_value_pb2 import AttrValue
from tensorboard.compat.proto.config_pb2 import RunMetadata
from tensorboard.compat.proto.graph_pb2 import GraphDef
from tensorboard.compat.proto.node_def_pb2 import NodeDef
from tensorboard.compat.proto.step_stats_pb2 import DeviceStepStats, StepStats
from tensorboard.compat.proto.tensor_shape_pb2 import TensorShapeProto
from tensorboard.compat.proto.versions_pb2 import VersionDef

from ..._tensor_base import TensorBase
from ...autograd import _observe
from ...autograd.grad_mode import no_grad

_DEVICE = "/device:CPU:0"


def _shapes_attr(arrays):
    shapes = [TensorShapeProto(dim=[TensorShapeProto.Dim(size=int(s)) for s in a.shape])
              for a in arrays]
    return {"_output_shapes": AttrValue(list=AttrValue.ListValue(shape=shapes))}


class _Tracer:
    """The watcher that turns each outermost op call into a NodeDef."""

    def __init__(self, params):
        self.nodes = []
        self.producer = {}     # id(array) -> the input name that refers to it
        self.keep = []         # every array seen, so no id is reused meanwhile
        self.params = params   # id(array) -> (qualified name, array)
        self.scope = []        # scope names of the modules running
        self.count = 0
        self.depth = 0

    def _name(self, base):
        self.count += 1
        return "/".join(self.scope + [f"{base}.{self.count}"])

    def add(self, name, op, inputs, outputs):
        self.nodes.append(NodeDef(name=name, op=op, input=inputs, device=_DEVICE,
                                  attr=_shapes_attr(outputs)))
        for k, a in enumerate(outputs):
            self.producer[id(a)] = name if k == 0 else f"{name}:{k}"
            self.keep.append(a)

    def _input(self, a):
        """The name an op's input array goes by (made on first use for
        parameters and constants)."""
        name = self.producer.get(id(a))
        if name is None:
            p = self.params.get(id(a))
            if p is not None:
                name = p[0]
                self.add(name, "prim::GetAttr", [], [a])
            else:
                self.add(self._name("constant"), "prim::Constant", [], [a])
            name = self.producer[id(a)]
        return name

    def forward(self, cls, args, run):
        if self.depth:          # (ops inside a custom Function's forward: its detail)
            return run()
        self.depth += 1
        try:
            out = run()
        finally:
            self.depth -= 1
        arrays = [a._data if isinstance(a, TensorBase) else a for a in args[1:]]
        inputs = [self._input(a) for a in arrays if hasattr(a, "shape") and hasattr(a, "dtype")]
        outs = out if isinstance(out, tuple) else (out,)
        outs = [o._data if isinstance(o, TensorBase) else o for o in outs]
        outs = [o for o in outs if hasattr(o, "shape")]
        op = _observe.op_name(cls)
        self.add(self._name(op.split("::")[-1]), op, inputs, outs)
        return out

    def backward(self, node, grads, run):
        return run()


def trace_graph(model, input_to_model, verbose=False):
    """(GraphDef, RunMetadata) of one forward of ``model``."""
    if input_to_model is None:
        inputs = ()
    elif isinstance(input_to_model, (tuple, list)):
        inputs = tuple(input_to_model)
    else:
        inputs = (input_to_model,)
    # Module scopes: "Net" for the model, "Net/Linear[fc1]" for its child fc1 ...
    scopes = {}
    for qual, mod in model.named_modules():
        if not qual:
            scopes[qual] = type(mod).__name__
        else:
            parent, _, last = qual.rpartition(".")
            scopes[qual] = f"{scopes[parent]}/{type(mod).__name__}[{last}]"
    # ... and its parameters and buffers under them: "Net/Linear[fc1]/weight".
    params = {}
    for name, t in list(model.named_parameters()) + list(model.named_buffers()):
        if t is not None:
            owner, _, last = name.rpartition(".")
            params[id(t._data)] = (scopes[owner] + "/" + last, t._data)
    tracer = _Tracer(params)

    handles = []
    for qual, mod in model.named_modules():
        def pre(m, a, part=scopes[qual].rpartition("/")[2]):
            tracer.scope.append(part)

        def post(m, a, out):
            tracer.scope.pop()
        handles.append(mod.register_forward_pre_hook(pre))
        handles.append(mod.register_forward_hook(post))

    for i, x in enumerate(inputs):
        if isinstance(x, TensorBase):
            tracer.add(f"input/input.{i}", "IO Node", [], [x._data])

    modes = [(m, m.training) for m in model.modules()]
    model.eval()
    _observe.add(tracer)
    try:
        with no_grad():
            out = model(*inputs)
    finally:
        _observe.remove(tracer)
        for h in handles:
            h.remove()
        for m, training in modes:
            m.training = training
    outs = out if isinstance(out, (tuple, list)) else (out,)
    for i, o in enumerate(outs):
        if isinstance(o, TensorBase):
            src = tracer.producer.get(id(o._data))
            tracer.add(f"output/output.{i}", "IO Node", [src] if src else [], [o._data])
    if verbose:
        for n in tracer.nodes:
            print(n.name, n.op, list(n.input))
    graph = GraphDef(node=tracer.nodes, versions=VersionDef(producer=22))
    meta = RunMetadata(step_stats=StepStats(dev_stats=[DeviceStepStats(device=_DEVICE)]))
    return graph, meta
