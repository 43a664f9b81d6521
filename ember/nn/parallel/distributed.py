"""DistributedDataParallel: one model replica per process, gradients averaged over MPI.

How the gradients are reduced (torch's reducer, over ember.distributed):

* At construction the parameters are split into buckets of about
  ``bucket_cap_mb`` (the first one 1 MB, as torch), in reverse order of
  ``parameters()`` -- roughly the order in which backward produces their
  gradients -- and rank 0's parameters and buffers are broadcast to all.
* Ember's engine runs nodes from the most recently recorded down, and a
  leaf's ``AccumulateGrad`` node is numbered below every recorded node, so
  leaves normally accumulate at the very end of backward -- too late to
  overlap anything.  After each forward DDP walks the new graph once and
  renumbers each parameter's ``AccumulateGrad`` node to just below the
  earliest node that consumes the parameter: the engine then accumulates the
  gradient as soon as its last contribution has arrived (as torch's engine
  does), while backward continues through the earlier layers.
* Each parameter's post-accumulate-grad hook (torch's reducer hook) copies
  the fresh ``.grad`` into its bucket; a full bucket starts a non-blocking
  all-reduce (``MPI_Iallreduce``).  The last parameter's hook waits for the
  buckets and writes the averaged gradients into ``.grad`` (with
  ``gradient_as_bucket_view=True``, ``.grad`` *is* the bucket slice: no copy).
* ``no_sync()``: forwards inside it prepare nothing, so gradients accumulate
  locally; the next synchronised backward all-reduces the sum.
* A world of one process has nothing to average: the hooks only check that
  every parameter got its gradient (the same errors as in a larger world),
  with no bucket copies and no all-reduce.
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
    them end to end, ``views[k]`` is parameter k's slice of it."""

    def __init__(self, params, dtype):
        self.params = params
        self.flat = np.zeros(sum(p.numel() for p in params), dtype=dtype)
        self.views = []
        off = 0
        for p in params:
            n = p.numel()
            self.views.append(self.flat[off:off + n].reshape(p.shape))
            off += n


class _Reduction:
    """The state of one synchronised backward: which parameters are still
    to come, which buckets have started."""

    def __init__(self, ddp, used, remaining):
        self.ddp = ddp
        self.used = used                  # param indices the forward graph reached
        self.remaining = remaining        # used parameters not accumulated yet
        self.ready = bytearray(len(ddp._params))
        self.waiting = list(ddp._bucket_sizes)   # per bucket: parameters not ready yet
        self.next_bucket = 0              # the next bucket to start (they start in order)
        self.requests = []
        self.used_counts = None
        self.entered = False              # backward reached this forward's output
        self.finished = False
        self.discarded = False

    def accumulated(self, i, p):
        """Parameter i's gradient for this step is complete in ``p.grad``."""
        if self.ready[i]:
            raise RuntimeError(
                f"Expected to mark a variable ready only once. This error is caused by a "
                f"parameter ({self.ddp._names[i]}) that received gradient twice in one "
                f"backward: it is used outside the forward of DistributedDataParallel, or "
                f"backward ran twice through the same forward's graph.")
        self.ready[i] = 1
        ddp = self.ddp
        if ddp._world > 1:
            b, view = ddp._slot[i]
            g = p.grad._data
            # The bucket holds each gradient already divided by the world size
            # (as torch's reducer does), so the all-reduced sum is the average.
            if g is view:
                view *= ddp._inv_world          # (gradient_as_bucket_view: accumulated in place)
            else:
                np.multiply(g if type(g) is np.ndarray else _host(g), ddp._inv_world, out=view)
            self._param_ready(b)
        if i in self.used:   # (one the walk did not find -- inside a checkpoint -- is not counted)
            self.remaining -= 1
            if self.remaining == 0:
                self.finish()

    def mark_unused(self, i):
        """An unused parameter (find_unused_parameters): its local gradient is
        what it holds already, or zero."""
        self.ready[i] = 1
        ddp = self.ddp
        if ddp._world == 1:
            return
        b, view = ddp._slot[i]
        p = ddp._params[i]
        if p.grad is not None:
            if p.grad._data is not view:
                np.multiply(_host(p.grad._data), ddp._inv_world, out=view)
            else:
                view *= ddp._inv_world
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
        # (DDP's own buckets skip the collectives' agreement check: every rank
        # built the same buckets from the same model, checked at construction.)
        self.requests.append(ddp._comm.Iallreduce(ddp._MPI.IN_PLACE, ddp._buckets[b].flat,
                                                  ddp._MPI.SUM))

    def finish(self):
        """Last parameter's hook: wait for every bucket, write ``.grad``."""
        ddp = self.ddp
        self.finished = True
        ddp._pending = None
        missing = [i for i, r in enumerate(self.ready) if not r]
        if missing and self.used_counts is None:
            # Keep MPI consistent before raising: the other ranks launched the same buckets.
            if self.requests:
                with ddp._armed("DistributedDataParallel gradient all-reduce"):
                    ddp._MPI.Request.Waitall(self.requests)
            names = [ddp._names[i] for i in missing]
            raise RuntimeError(
                "Expected to have finished reduction in the prior iteration before starting a "
                "new one. This error indicates that your module has parameters that were not "
                "used in producing loss. You can enable unused parameter detection by passing "
                "the keyword argument `find_unused_parameters=True` to "
                "`torch.nn.parallel.DistributedDataParallel`, and by making sure all `forward` "
                "function outputs participate in calculating loss. Parameters which did not "
                f"receive grad for rank {ddp._rank}: {', '.join(names)}")
        if ddp._world == 1:
            return                         # the local gradients are the average
        with ddp._armed("DistributedDataParallel gradient all-reduce"):
            ddp._MPI.Request.Waitall(self.requests)
        globally_used = self.used_counts
        as_view = ddp.gradient_as_bucket_view
        for b, bucket in enumerate(ddp._buckets):
            index = ddp._bucket_index[b]
            for k, p in enumerate(bucket.params):
                if globally_used is not None and globally_used[index[k]] == 0:
                    continue               # no rank used it: its .grad stays as it was
                _write_grad(p, bucket.views[k], as_view)


def _host(arr):
    return _backends.backend_of(arr).to_host(arr)


def _write_grad(p, reduced, as_view):
    """``p.grad = reduced``: in place when p.grad is a host array, else a new
    tensor; with ``as_view`` (gradient_as_bucket_view), the bucket slice itself."""
    g = p.grad
    if g is not None and g._data is reduced:
        g._vc[0] += 1                      # (already the bucket slice: reduced in place)
        return
    if as_view and type(p._data) is np.ndarray:
        p.grad = _wrap(reduced)
        return
    if g is not None and type(g._data) is np.ndarray and g._data.flags.c_contiguous \
            and g._data.dtype == reduced.dtype:
        np.copyto(g._data, reduced)
        g._vc[0] += 1
        return
    b = _backends.backend_of(p._data)
    p.grad = _wrap(b.from_host(reduced.copy()))


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
        # Where each buffer lives, found once (torch also fixes its list of buffers
        # at construction): a forward reads the current tensors from these dicts,
        # so a buffer replaced by a new tensor is still the one broadcast.
        self._buffer_slots = [(m._buffers, name) for m in module.modules()
                              for name, b in m._buffers.items() if b is not None]
        self._pending = None
        for i, p in enumerate(self._params):
            p.register_post_accumulate_grad_hook(_AccumulatedHook(self, i))

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
                if self._rank == 0:
                    continue               # (rank 0's own values: nothing to write back)
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
        self._bucket_sizes = [len(g) for g in groups]
        self._slot = [None] * len(self._params)     # param index -> (bucket, its slice)
        for b, g in enumerate(groups):
            for k, i in enumerate(g):
                self._slot[i] = (b, self._buckets[b].views[k])

    # ---- forward: prepare this step's graph -------------------------------------------------
    def forward(self, *inputs, **kwargs):
        if self._pending is not None and not self._pending.finished:
            if self._pending.entered:
                raise RuntimeError("Expected to have finished reduction in the prior iteration "
                                   "before starting a new one (a backward ran only part way).")
            # A forward whose output never went through backward (an evaluation
            # with grad mode on): forget it; should its graph reach backward
            # after all, its root hook raises instead of mixing two steps' gradients.
            self._pending.finished = self._pending.discarded = True
            self._pending = None
        if self.broadcast_buffers and self.require_forward_param_sync and self._world > 1 \
                and self._buffer_slots:
            self._broadcast(_unique([slots[name] for slots, name in self._buffer_slots]))
        out = self.module(*inputs, **kwargs)
        from ...autograd import grad_mode
        if self.require_backward_grad_sync and grad_mode.state.enabled:
            self._prepare(out)
        return out

    def _prepare(self, out):
        """Walk ``out``'s graph: find each parameter's AccumulateGrad node and
        renumber it to run right after the parameter's last consumer (see the
        module docstring); hook the graph's roots."""
        roots = [t.grad_fn for t in _tensors(out) if t.grad_fn is not None]
        if not roots:
            return
        index = self._index
        accumulate = AccumulateGrad
        earliest = {}         # param index -> the lowest number among its consumers
        accs = {}             # param index -> its AccumulateGrad node in this graph
        seen = set(roots)
        stack = list(seen)
        while stack:
            node = stack.pop()
            for e in node._next:
                if e is None:
                    continue
                nxt = e[0]
                if type(nxt) is accumulate:
                    i = index.get(id(nxt.variable))
                    if i is not None:
                        s = node._seq
                        if i not in accs:
                            accs[i] = nxt
                            earliest[i] = s
                        elif s < earliest[i]:
                            earliest[i] = s
                elif nxt not in seen:
                    seen.add(nxt)
                    stack.append(nxt)
        # Renumber: just below the earliest consumer.  Nodes carry whole numbers,
        # so a fraction never ties with one; parameters sharing their earliest
        # consumer (a Linear's weight and bias) get distinct fractions.
        by_consumer = {}
        for i, s in earliest.items():
            by_consumer.setdefault(s, []).append(i)
        for s, group in by_consumer.items():
            step = 1.0 / (len(group) + 1)
            for k, i in enumerate(group):
                accs[i]._seq = s - (k + 1) * step
        used = set(accs)
        red = _Reduction(self, used, len(used))
        self._pending = red
        hook = _RootHook(red)
        for node in roots:
            node.register_prehook(hook)
        if self.find_unused_parameters:
            if self._world > 1:
                flags = np.zeros(len(self._params), dtype=np.int32)
                for i in used:
                    flags[i] = 1
                red.used_counts = flags
                red.requests.append(self._comm.Iallreduce(self._MPI.IN_PLACE, flags,
                                                          self._MPI.SUM))
            for i in range(len(self._params)):
                if i not in used:
                    red.mark_unused(i)
        if not used:
            red.finished = True
            self._pending = None

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


class _AccumulatedHook:
    """Post-accumulate-grad hook of parameter ``i``: hands its gradient to
    the step's reduction."""
    __slots__ = ("ddp", "i")

    def __init__(self, ddp, i):
        self.ddp, self.i = ddp, i

    def __call__(self, p):
        red = self.ddp._pending
        if red is not None and red.entered:
            red.accumulated(self.i, p)


class _RootHook:
    """Pre-hook on the nodes that made a forward's output: backward has reached
    that forward's graph, so the parameters' gradients that follow are its."""
    __slots__ = ("red",)

    def __init__(self, red):
        self.red = red

    def __call__(self, grad_outputs):
        red = self.red
        if red.discarded:
            raise RuntimeError("DistributedDataParallel: backward through the output of a "
                               "forward that was followed by another forward before any "
                               "backward; DDP reduces the gradients of the latest forward "
                               "only (run backward after each forward, or use no_sync())")
        if not red.finished:
            red.entered = True
        return None


def _unique(tensors):
    """``tensors`` without repeats (one buffer registered in two modules) or Nones."""
    seen = set()
    out = []
    for t in tensors:
        if t is not None and id(t) not in seen:
            seen.add(id(t))
            out.append(t)
    return out


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
