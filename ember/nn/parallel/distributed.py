"""DistributedDataParallel: one model replica per process, gradients averaged over MPI.

How the gradients are reduced (torch's reducer, over ember.distributed):

* At construction the parameters are split into buckets of about
  ``bucket_cap_mb`` (the first one 1 MB, as torch), in reverse order of
  ``parameters()`` -- roughly the order in which backward produces their
  gradients -- and rank 0's parameters and buffers are broadcast to all.
* Ember's engine accumulates leaves' gradients at the very end of backward,
  so a parameter's post-accumulate-grad hook is too late to overlap anything.
  Instead, after each forward DDP walks the new graph once and hooks the
  nodes that feed a parameter: when the last of them has run, the parameter's
  gradient is known, it is copied into its bucket, and a full bucket starts a
  non-blocking all-reduce (``MPI_Iallreduce``) while backward continues
  through the earlier layers.
* The parameters' post-accumulate-grad hooks then run at the end of backward:
  the last one waits for the buckets and writes the averaged gradients into
  ``.grad``.
* ``no_sync()``: forwards inside it install no hooks, so gradients
  accumulate locally; the next synchronised backward all-reduces the sum.
"""
import contextlib

import numpy as np  # (buckets are host arrays handed to MPI)

from ... import backends as _backends
from ..._tensor import Tensor, _wrap
from ...autograd.function import AccumulateGrad
from ..modules.module import Module

_FIRST_BUCKET_BYTES = 1024 * 1024


class _Bucket:
    """Parameters whose gradients travel in one all-reduce: ``flat`` holds
    them end to end, ``views[i]`` is parameter i's slice of it."""

    def __init__(self, params, dtype):
        self.params = params
        self.flat = np.zeros(sum(p.numel() for p in params), dtype=dtype)
        self.views = []
        off = 0
        for p in params:
            n = p.numel()
            self.views.append(self.flat[off:off + n].reshape(p.shape))
            off += n
        self.request = None


class _Reduction:
    """The state of one synchronised backward: which gradients are still
    expected, which buckets have started."""

    def __init__(self, ddp, expected, used):
        self.ddp = ddp
        self.expected = expected          # param index -> contributions still to come
        self.used = used                  # param indices the forward graph reached
        self.started = set()              # param indices whose slot has been written
        self.waiting = [len(b.params) for b in ddp._buckets]
        self.next_bucket = 0              # the next bucket to start (they start in order)
        self.accumulated = 0              # post-accumulate-grad hooks seen
        self.requests = []
        self.used_counts = None
        self.finished = False
        self.discarded = False

    def contribute(self, i, g):
        """Node-hook side: one contribution ``g`` (an array) to parameter i's gradient.

        The bucket holds each gradient already divided by the world size (as
        torch's reducer does), so the all-reduced sum is the average; the
        division is folded into the copy into the bucket."""
        ddp = self.ddp
        b, k = ddp._where[i]
        view = ddp._buckets[b].views[k]
        inv = ddp._inv_world
        if i not in self.started:
            self.started.add(i)
            p = ddp._params[i]
            if p.grad is not None:          # gradients kept by no_sync() steps
                np.multiply(_host(p.grad._data), inv, out=view)
                view += g * inv
            else:
                np.multiply(g, inv, out=view)
        else:
            view += g * inv                 # (a parameter used several times)
        self.expected[i] -= 1
        if self.expected[i] == 0:
            self._param_ready(b)

    def mark_unused(self, i):
        """An unused parameter (find_unused_parameters): its local gradient is
        what it holds already, or zero."""
        b, k = self.ddp._where[i]
        p = self.ddp._params[i]
        view = self.ddp._buckets[b].views[k]
        if p.grad is not None:
            np.multiply(_host(p.grad._data), self.ddp._inv_world, out=view)
        else:
            view[...] = 0
        self._param_ready(b)

    def _param_ready(self, b):
        self.waiting[b] -= 1
        if self.waiting[b] == 0:
            # Buckets start strictly in index order, as torch's reducer starts
            # them: every rank must issue its collectives in the same order,
            # even when (unused parameters) their gradients are ready in another.
            waiting, n = self.waiting, len(self.waiting)
            while self.next_bucket < n and waiting[self.next_bucket] == 0:
                self._launch(self.next_bucket)
                self.next_bucket += 1
        elif self.requests:
            self.ddp._MPI.Request.Testall(self.requests)     # let MPI progress the ones in flight

    def _launch(self, b):
        ddp = self.ddp
        bucket = ddp._buckets[b]
        self.requests.append(ddp._comm.Iallreduce(ddp._MPI.IN_PLACE, bucket.flat, ddp._MPI.SUM))

    def finish(self):
        """Last post-accumulate-grad hook: wait for every bucket, write ``.grad``."""
        ddp = self.ddp
        self.finished = True
        ddp._pending = None
        missing = [i for i, w in enumerate(self.waiting) if w > 0]
        if missing:
            # Keep MPI consistent before raising: the other ranks launched the same buckets.
            with ddp._armed("DistributedDataParallel gradient all-reduce"):
                ddp._MPI.Request.Waitall(self.requests)
            names = [ddp._names[i] for b in missing for i in ddp._bucket_index[b]
                     if self.expected.get(i, 0) > 0 or i not in self.used]
            raise RuntimeError(
                "Expected to have finished reduction in the prior iteration before starting a "
                "new one. This error indicates that your module has parameters that were not "
                "used in producing loss. You can enable unused parameter detection by passing "
                "the keyword argument `find_unused_parameters=True` to "
                "`torch.nn.parallel.DistributedDataParallel`, and by making sure all `forward` "
                "function outputs participate in calculating loss. Parameters which did not "
                f"receive grad for rank {ddp._rank}: {', '.join(names)}")
        with ddp._armed("DistributedDataParallel gradient all-reduce"):
            ddp._MPI.Request.Waitall(self.requests)
        globally_used = None
        if self.used_counts is not None:
            globally_used = self.used_counts
        for b, bucket in enumerate(ddp._buckets):
            for k, p in enumerate(bucket.params):
                i = ddp._bucket_index[b][k]
                if globally_used is not None and globally_used[i] == 0:
                    continue               # no rank used it: its .grad stays as it was
                _write_grad(p, bucket.views[k])


def _host(arr):
    return _backends.backend_of(arr).to_host(arr)


def _write_grad(p, reduced):
    """``p.grad = reduced``: in place when p.grad is a host array, else a new tensor."""
    g = p.grad
    if g is not None and type(g._data) is np.ndarray and g._data.flags.c_contiguous \
            and g._data.dtype == reduced.dtype:
        np.copyto(g._data, reduced)
        g._vc[0] += 1
        return
    b = _backends.backend_of(p._data)
    p.grad = _wrap(b.from_host(reduced.copy()))


def _sum_to(g, shape):
    """Sum a broadcast gradient down to ``shape`` (as the engine does for edges)."""
    if g.shape == shape:
        return g
    lead = g.ndim - len(shape)
    axes = tuple(range(lead)) + tuple(lead + i for i, s in enumerate(shape)
                                      if s == 1 and g.shape[lead + i] != 1)
    return g.sum(axis=axes, keepdims=True).reshape(shape) if axes else g.reshape(shape)


class DistributedDataParallel(Module):
    """Data parallelism over processes (torch.nn.parallel.DistributedDataParallel).

    Wrap the model after ``init_process_group``; each rank feeds its own share
    of the batch (``DistributedSampler``) and after ``backward()`` every rank
    holds the gradients averaged over all of them.  ``module`` is the wrapped
    model; state dicts carry torch's ``module.`` prefix."""

    def __init__(self, module, device_ids=None, output_device=None, dim=0, broadcast_buffers=True,
                 init_sync=True, process_group=None, bucket_cap_mb=None,
                 find_unused_parameters=False, check_reduction=False,
                 gradient_as_bucket_view=False, static_graph=False, delay_all_reduce_named_params=None,
                 param_to_hook_all_reduce=None, mixed_precision=None, device_mesh=None):
        super().__init__()
        from ... import distributed as dist
        from ...distributed._group import _resolve, _armed, _mpi
        if not isinstance(module, Module):
            raise TypeError(f"DistributedDataParallel expects an nn.Module, got {type(module).__name__}")
        params = [p for p in module.parameters() if p.requires_grad]
        if not params:
            raise RuntimeError("DistributedDataParallel is not needed when a module doesn't have "
                               "any parameter that requires a gradient.")
        if device_ids is not None and len(device_ids) > 0 or output_device is not None:
            raise ValueError(
                f"DistributedDataParallel device_ids and output_device arguments only work with "
                f"single-device/multiple-device GPU modules or CPU modules, but got device_ids "
                f"{device_ids}, output_device {output_device}, and module parameters "
                f"{ {p.device for p in params} }.")
        self.module = module
        self.device_ids = device_ids
        self.output_device = output_device
        self.dim = dim
        self.broadcast_buffers = broadcast_buffers
        self.find_unused_parameters = find_unused_parameters
        self.gradient_as_bucket_view = gradient_as_bucket_view
        self.static_graph = static_graph
        self.require_backward_grad_sync = True
        self.require_forward_param_sync = True
        pg = _resolve(process_group)
        self.process_group = process_group
        object.__setattr__(self, "_pg", pg)
        self._MPI = _mpi()
        self._comm = pg.comm
        self._rank, self._world = pg.rank(), pg.size()
        self._inv_world = 1.0 / self._world
        self._armed = lambda what: _armed(pg, what)
        self.bucket_cap_mb = 25 if bucket_cap_mb is None else bucket_cap_mb

        named = [(n, p) for n, p in module.named_parameters() if p.requires_grad]
        self._params = [p for _, p in named]
        self._names = [n for n, _ in named]
        self._index = {id(p): i for i, p in enumerate(self._params)}
        self._check_same_model(dist, module)
        if init_sync:
            self._broadcast([p for _, p in module.named_parameters()] +
                            [b for _, b in module.named_buffers()])
        self._make_buckets()
        self._pending = None
        for p in self._params:
            p.register_post_accumulate_grad_hook(self._on_accumulated)

    # ---- construction -------------------------------------------------------------------
    def _check_same_model(self, dist, module):
        """Every rank must wrap the same architecture (torch checks this too)."""
        mine = [(n, tuple(p.shape), str(p.dtype)) for n, p in module.named_parameters()]
        everyone = [None] * self._world
        dist.all_gather_object(everyone, mine, group=self.process_group)
        for r, theirs in enumerate(everyone):
            if theirs != everyone[0]:
                diff = next(((a, b) for a, b in zip(everyone[0], theirs) if a != b),
                            (len(everyone[0]), len(theirs)))
                raise RuntimeError(f"DDP expects same model across all ranks, but rank {r} "
                                   f"differs from rank 0: {diff[1]} vs {diff[0]}")

    def _broadcast(self, tensors):
        """Rank 0's values into every rank's tensors, one MPI broadcast per dtype."""
        by_dtype = {}
        for t in tensors:
            if t is not None and t.numel() > 0:
                by_dtype.setdefault(t._data.dtype, []).append(t)
        with self._armed("DistributedDataParallel broadcast"):
            for dtype, ts in by_dtype.items():
                flat = np.concatenate([np.ascontiguousarray(_host(t._data)).reshape(-1) for t in ts])
                self._comm.Bcast(flat, 0)
                off = 0
                for t in ts:
                    n = t.numel()
                    t._data[...] = _backends.backend_of(t._data).from_host(
                        flat[off:off + n].reshape(t._data.shape))
                    off += n

    def _make_buckets(self):
        cap = max(1, int(self.bucket_cap_mb * 1024 * 1024))
        first_cap = min(cap, _FIRST_BUCKET_BYTES)
        groups = []
        current, size, dtype = [], 0, None
        for i in reversed(range(len(self._params))):
            p = self._params[i]
            nbytes = p.numel() * p._data.itemsize
            limit = first_cap if not groups else cap
            if current and (p._data.dtype != dtype or size + nbytes > limit):
                groups.append(current)
                current, size = [], 0
            current.append(i)
            size += nbytes
            dtype = p._data.dtype
        if current:
            groups.append(current)
        self._buckets = [_Bucket([self._params[i] for i in g], self._params[g[0]]._data.dtype)
                         for g in groups]
        self._bucket_index = groups
        self._where = {}
        for b, g in enumerate(groups):
            for k, i in enumerate(g):
                self._where[i] = (b, k)

    # ---- forward: hook this step's graph ---------------------------------------------------
    def forward(self, *inputs, **kwargs):
        if self._pending is not None and not self._pending.finished:
            if self._pending.started:
                raise RuntimeError("Expected to have finished reduction in the prior iteration "
                                   "before starting a new one (a backward ran only part way).")
            # A forward whose output never went through backward (an evaluation
            # with grad mode on): forget it; should its graph reach backward
            # after all, its hooks raise instead of mixing two steps' gradients.
            self._pending.finished = self._pending.discarded = True
            self._pending = None
        if self.broadcast_buffers and self.require_forward_param_sync:
            bufs = [b for _, b in self.module.named_buffers()]
            if bufs and self._world > 1:
                self._broadcast(bufs)
        out = self.module(*inputs, **kwargs)
        from ...autograd import grad_mode
        if self.require_backward_grad_sync and grad_mode.state.enabled:
            self._prepare(out)
        return out

    def _prepare(self, out):
        """Hook the nodes of ``out``'s graph that feed a parameter (see the module docstring)."""
        roots = [t.grad_fn for t in _tensors(out) if t.grad_fn is not None]
        if not roots:
            return
        consumers = {}        # node -> [(input position, param index)]
        expected = {}
        seen = set(roots)
        stack = list(seen)
        index = self._index
        accumulate = AccumulateGrad
        while stack:
            node = stack.pop()
            for pos, (nxt, _) in enumerate(node.next_functions):
                if nxt is None:
                    continue
                if type(nxt) is accumulate:
                    i = index.get(id(nxt.variable))
                    if i is not None:
                        consumers.setdefault(node, []).append((pos, i))
                        expected[i] = expected.get(i, 0) + 1
                elif nxt not in seen:
                    seen.add(nxt)
                    stack.append(nxt)
        used = set(expected)
        red = _Reduction(self, expected, used)
        self._pending = red
        for node, slots in consumers.items():
            node.register_hook(_NodeHook(red, slots))
        if self.find_unused_parameters:
            flags = np.zeros(len(self._params), dtype=np.int32)
            for i in used:
                flags[i] = 1
            red.used_counts = flags
            red.requests.append(self._comm.Iallreduce(self._MPI.IN_PLACE, flags, self._MPI.SUM))
            for i in range(len(self._params)):
                if i not in used:
                    red.mark_unused(i)
        red.expected_hooks = len(used)

    def _on_accumulated(self, p):
        red = self._pending
        if red is None or red.finished:
            return
        red.accumulated += 1
        if red.accumulated == red.expected_hooks:
            red.finish()

    @contextlib.contextmanager
    def no_sync(self):
        """Forwards (and their backwards) inside this block accumulate gradients
        locally; the first synchronised backward afterwards averages the sum."""
        old = self.require_backward_grad_sync
        self.require_backward_grad_sync = False
        try:
            yield
        finally:
            self.require_backward_grad_sync = old

    def __getstate__(self):
        raise RuntimeError("DistributedDataParallel is not picklable; save .module instead")


class _NodeHook:
    """Post-hook of a node feeding parameters: routes its gradients to the buckets."""
    __slots__ = ("red", "slots")

    def __init__(self, red, slots):
        self.red, self.slots = red, slots

    def __call__(self, grad_inputs, grad_outputs):
        red = self.red
        if red.finished:
            if red.discarded:
                raise RuntimeError("DistributedDataParallel: backward through the output of a "
                                   "forward that was followed by another forward before any "
                                   "backward; DDP reduces the gradients of the latest forward "
                                   "only (run backward after each forward, or use no_sync())")
            return None
        for pos, i in self.slots:
            g = grad_inputs[pos] if pos < len(grad_inputs) else None
            p = red.ddp._params[i]
            if g is None:
                red.expected[i] -= 1      # (counted as a zero contribution)
                if red.expected[i] == 0:
                    if i not in red.started:
                        red.mark_unused(i)
                        continue
                    red._param_ready(red.ddp._where[i][0])
                continue
            arr = _host(g._data if isinstance(g, Tensor) else g)
            arr = _sum_to(arr, tuple(p.shape))
            if arr.dtype != p._data.dtype:
                arr = arr.astype(p._data.dtype)
            red.contribute(i, arr)
        return None


def _tensors(obj):
    """The tensors inside a forward's output (tensors, tuples, lists, dicts)."""
    if isinstance(obj, Tensor):
        yield obj
    elif isinstance(obj, (list, tuple)):
        for o in obj:
            yield from _tensors(o)
    elif isinstance(obj, dict):
        for o in obj.values():
            yield from _tensors(o)
