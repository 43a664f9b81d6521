"""The collectives on tensors and Python objects, each one MPI call (torch.distributed's API).

A tensor's memory goes to MPI as it is when it lives in host memory and is
contiguous (a CPU tensor: its NumPy array, no copy).  Otherwise it goes
through a contiguous host copy that is written back afterwards.

Before a collective starts, its ranks check that they agree on what they
are doing (the collective, dtype, shape, op) with one small all-gather of
their descriptions, so that a mismatch raises an error on every rank instead
of corrupting memory or hanging.  A small all_reduce (up to 4 KB) sends its
data inside that exchange and is then reduced locally: one message round
instead of two (see _agree).  The watchdog (see _group.py) ends the job
when a call runs past the group's timeout.
"""
import enum

import numpy as np  # (host buffers handed to MPI are NumPy arrays, whatever the device)

from .._tensor import Tensor
from .. import backends as _backends
from ._group import _resolve, _armed, _mpi, GroupMember


class ReduceOp:
    """How a reduction combines values (torch.distributed.ReduceOp)."""

    class RedOpType(enum.IntEnum):
        SUM = 0
        AVG = 1
        PRODUCT = 2
        MIN = 3
        MAX = 4
        BAND = 5
        BOR = 6
        BXOR = 7
        PREMUL_SUM = 8

    SUM = RedOpType.SUM
    AVG = RedOpType.AVG
    PRODUCT = RedOpType.PRODUCT
    MIN = RedOpType.MIN
    MAX = RedOpType.MAX
    BAND = RedOpType.BAND
    BOR = RedOpType.BOR
    BXOR = RedOpType.BXOR
    PREMUL_SUM = RedOpType.PREMUL_SUM


_OPS = {}      # (op, dtype kind) -> MPI op


def _mpi_op(op, dtype, what):
    """The MPI op computing ``op`` on ``dtype`` (AVG is a SUM divided afterwards)."""
    found = _OPS.get((op, dtype.kind))
    if found is not None:
        return found
    MPI = _mpi()
    if not isinstance(op, ReduceOp.RedOpType):
        raise TypeError(f"{what}: op must be a ReduceOp, got {op!r}")
    kind = dtype.kind
    if kind == "b":     # MPI's logical ops: bool sums and maxima are ORs, products and minima ANDs
        table = {ReduceOp.SUM: MPI.LOR, ReduceOp.MAX: MPI.LOR, ReduceOp.BOR: MPI.LOR,
                 ReduceOp.PRODUCT: MPI.LAND, ReduceOp.MIN: MPI.LAND, ReduceOp.BAND: MPI.LAND,
                 ReduceOp.BXOR: MPI.LXOR}
    else:
        table = {ReduceOp.SUM: MPI.SUM, ReduceOp.AVG: MPI.SUM, ReduceOp.PRODUCT: MPI.PROD,
                 ReduceOp.MIN: MPI.MIN, ReduceOp.MAX: MPI.MAX}
        if kind in "iu":
            table.update({ReduceOp.BAND: MPI.BAND, ReduceOp.BOR: MPI.BOR, ReduceOp.BXOR: MPI.BXOR})
    if op == ReduceOp.AVG and kind != "f":
        raise ValueError(f"{what}: ReduceOp.AVG needs a floating-point tensor, got {dtype}")
    if op not in table:
        raise ValueError(f"{what}: ReduceOp.{op.name} is not supported for {dtype} tensors")
    _OPS[(op, kind)] = table[op]
    return table[op]


class _Buf:
    """A tensor's data as a contiguous host array for MPI: the tensor's own
    memory when possible (``.arr``), else a copy that ``done()`` writes back."""
    __slots__ = ("t", "arr", "copied")

    def __init__(self, t, what, name="tensor"):
        if not isinstance(t, Tensor):
            raise TypeError(f"{what}: {name} must be a Tensor, got {type(t).__name__}")
        data = t._data
        host = _backends.backend_of(data).to_host(data)
        self.t = t
        self.copied = host is not data or not host.flags.c_contiguous
        self.arr = np.ascontiguousarray(host) if self.copied else host

    def done(self):
        """The tensor now holds what MPI wrote: copy back if needed, bump its version."""
        if self.copied:
            _store(self.t, self.arr)
        else:
            self.t._vc[0] += 1


def _store(t, host):
    """Write host array ``host`` into tensor ``t``'s memory (any device)."""
    data = t._data
    data[...] = _backends.backend_of(data).from_host(host.reshape(data.shape))
    t._vc[0] += 1


def _host_copy(t):
    data = t._data
    return np.ascontiguousarray(_backends.backend_of(data).to_host(data))


def _check_tensor_list(lst, n, like, what, name):
    if not isinstance(lst, (list, tuple)) or len(lst) != n:
        raise ValueError(f"{what}: {name} must be a list of {n} tensors (the group's size), "
                         f"got {type(lst).__name__} of length {len(lst) if hasattr(lst, '__len__') else '?'}")
    for i, t in enumerate(lst):
        if not isinstance(t, Tensor):
            raise TypeError(f"{what}: {name}[{i}] must be a Tensor, got {type(t).__name__}")
        if t._data.dtype != like.dtype or tuple(t._data.shape) != tuple(like.shape):
            raise ValueError(f"{what}: {name}[{i}] has dtype {t.dtype} and shape {tuple(t.shape)}, "
                             f"expected {like.dtype} and {tuple(like.shape)}")


# Each collective's name as a number, for the agreement check (the same list on every rank).
_NAMES = ["all_reduce", "broadcast", "reduce", "all_gather", "all_gather_into_tensor",
          "reduce_scatter_tensor", "reduce_scatter", "gather", "scatter", "all_to_all_single",
          "all_to_all", "broadcast_object_list", "all_gather_object", "gather_object",
          "scatter_object_list"]
_CODE = {name: i + 1 for i, name in enumerate(_NAMES)}
_WIDTH = 16                    # numbers compared per collective (longer descriptions are folded)


def _encode(desc):
    """A description (name, then dtypes, shapes and ints) as _WIDTH int64s, the
    same on every rank for the same description (no string hashing: Python
    randomises it per process)."""
    out = [_CODE[desc[0]]]
    for part in desc[1:]:
        if isinstance(part, tuple):
            out.append(len(part))
            out.extend(part)
        elif isinstance(part, int):
            out.append(part)
        else:                                   # a NumPy dtype: kind and size, platform-neutral
            out.append(ord(part.kind) * 64 + part.itemsize)
    if len(out) > _WIDTH:
        folded = 0
        for k, v in enumerate(out[_WIDTH - 1:]):
            folded = (folded * 1_000_003 + v + k) % (1 << 61)
        out = out[:_WIDTH - 1] + [folded]
    return out + [0] * (_WIDTH - len(out))


# The agreement is one MPI_Allgather of a fixed-size block per rank, whatever
# the collective: the description's numbers, then room for _SMALL bytes of data.
# Every rank sees every rank's description, so a mismatch raises on all of them,
# and, the block's size being fixed, the exchange itself always matches.  A small
# all_reduce sends its data in that room and reduces what arrives locally: one
# exchange instead of an agreement and then the all-reduce.
_SMALL = 4096
_BLOCK = _WIDTH + _SMALL // 8         # int64s per rank
_PAYLOAD = _WIDTH * 8                 # byte offset of the data in a block


def _agree(pg, desc, data=None):
    """Every rank of ``pg`` checks that all of them are about to run ``desc``
    (collective, dtype, shape, op); a mismatch raises on every rank.  ``data``
    (a contiguous host array of at most _SMALL bytes) travels along: returns
    every rank's copy of it as an (n, size) array, in rank order."""
    n = pg.size()
    found = _ENCODED.get(desc)
    if found is None:
        if len(_ENCODED) > 4096:     # (shapes that keep changing: do not grow without bound)
            _ENCODED.clear()
        codes = np.array(_encode(desc), dtype=np.int64)
        found = _ENCODED[desc] = (codes, codes.tobytes())
    codes, code_bytes = found
    bufs = pg.__dict__.get("_agree_bufs")
    if bufs is None:
        bufs = pg._agree_bufs = _AgreeBuffers(n)
    bufs.send[:_WIDTH] = codes
    if data is not None:
        send, recv = bufs.typed(data.dtype)
        count = data.size
        send[:count] = data.reshape(-1)
    pg.comm.Allgather(bufs.send, bufs.recv)
    if bufs.recv[:, :_WIDTH].tobytes() != code_bytes * n:
        readable = " ".join(str(getattr(p, "name", p)) for p in desc)   # (dtype, op names)
        descs = pg.comm.allgather(readable)
        lines = "; ".join(f"rank {pg.ranks[i]}: {d}" for i, d in enumerate(descs))
        raise RuntimeError(f"ember.distributed: the ranks called mismatched collectives "
                           f"(every rank must pass tensors of the same dtype and shape): {lines}")
    if data is None:
        return None
    return recv[:, :count]


class _AgreeBuffers:
    """A group's blocks for _agree: ``send`` (one block), ``recv`` (one per
    rank), and their data parts seen as each dtype (made once per dtype)."""

    def __init__(self, n):
        self.send = np.zeros(_BLOCK, dtype=np.int64)
        self.recv = np.empty((n, _BLOCK), dtype=np.int64)
        self._typed = {}

    def typed(self, dtype):
        found = self._typed.get(dtype)
        if found is None:
            found = self._typed[dtype] = (self.send[_WIDTH:].view(dtype),
                                          self.recv[:, _WIDTH:].view(dtype))
        return found


_ENCODED = {}    # description -> (its numbers, as bytes)


def _desc(what, *parts):
    """What a collective is about to do, for _agree: (name, dtype, shape, ints...)."""
    return (what,) + parts


class Work:
    """The handle of an operation started with ``async_op=True`` (torch's Work):
    ``wait()`` blocks until it is done and its result is in the tensors."""

    def __init__(self, pg, what, requests, finish=None, result=()):
        self._pg, self._what = pg, what
        self._requests = list(requests)
        self._finish = finish
        self._result = list(result)
        self._done = False

    def _complete(self):
        self._done = True
        self._requests = []
        if self._finish is not None:
            f, self._finish = self._finish, None
            f()

    def wait(self, timeout=None):
        if not self._done:
            MPI = _mpi()
            pg = self._pg
            if timeout is not None:
                import copy
                pg = copy.copy(pg)
                pg.timeout = timeout.total_seconds()
            with _armed(pg, self._what):
                MPI.Request.Waitall(self._requests)
            self._complete()
        return True

    def is_completed(self):
        if not self._done and _mpi().Request.Testall(self._requests):
            self._complete()
        return self._done

    def is_success(self):
        return self.is_completed()

    def exception(self):
        return None

    def result(self):
        self.wait()
        return self._result

    def synchronize(self):
        self.wait()

    def get_future(self):
        return _Future(self)


class _Future:
    """A minimal torch.futures.Future over a Work: ``wait()``, ``value()``, ``done()``."""

    def __init__(self, work):
        self._work = work

    def wait(self):
        self._work.wait()
        return self._work._result

    def value(self):
        return self.wait()

    def done(self):
        return self._work.is_completed()


def _run(pg, desc, blocking, nonblocking, finish, async_op, result=()):
    """Agree on ``desc``, then run the MPI call: blocking, or started and
    handed back as a Work whose ``wait()`` runs ``finish``."""
    what = desc[0]
    with _armed(pg, what):
        _agree(pg, desc)
        if not async_op:
            blocking()
    if not async_op:
        finish()
        return None
    req = nonblocking()
    return Work(pg, what, req if isinstance(req, list) else [req], finish, result)


def _group_peer(pg, rank, group_rank, what, name):
    """A peer's rank inside ``pg`` from torch's global ``src``/``dst`` or ``group_src``/``group_dst``."""
    if rank is not None and group_rank is not None:
        raise ValueError(f"{what}: pass {name} or group_{name}, not both")
    if group_rank is not None:
        r = int(group_rank)
    elif rank is None:
        r = 0
    else:
        r = pg.group_rank(int(rank))
    if not 0 <= r < pg.size():
        raise ValueError(f"{what}: {name} rank {r} is out of range for a group of {pg.size()}")
    return r


def _avg(arr, n):
    arr /= n


# ---- collectives on tensors -------------------------------------------------------------

def all_reduce(tensor, op=ReduceOp.SUM, group=None, async_op=False):
    """Reduce ``tensor`` over the group, in place on every rank."""
    what = "all_reduce"
    pg = _resolve(group)
    b = _Buf(tensor, what)
    arr = b.arr
    mop = _mpi_op(op, arr.dtype, what)
    n = pg.size()
    desc = (what, arr.dtype, arr.shape, op)
    if not _LOCAL:
        _local_ops()
    local = _LOCAL.get(mop.py2f()) if arr.nbytes <= _SMALL and arr.dtype in _LOCAL_DTYPES else None
    if local is not None and not async_op:
        # Small: the data travels with the agreement; every rank reduces the
        # ranks' copies in rank order, so all get the very same result.
        with _armed(pg, what):
            parts = _agree(pg, desc, arr)
        flat = arr.reshape(-1)
        if n == 2:
            local(parts[0], parts[1], out=flat)
        elif n > 2:
            local.reduce(parts, axis=0, out=flat)
        # (n == 1: the tensor already holds the result)
        if op == ReduceOp.AVG:
            _avg(arr, n)
        b.done()
        return None
    MPI = _mpi()

    def finish():
        if op == ReduceOp.AVG:
            _avg(arr, n)
        b.done()
    return _run(pg, desc, lambda: pg.comm.Allreduce(MPI.IN_PLACE, arr, mop),
                lambda: pg.comm.Iallreduce(MPI.IN_PLACE, arr, mop), finish, async_op, [tensor])


# The MPI reductions that all_reduce's small path computes itself (filled on first use).
_LOCAL = {}     # MPI op handle (py2f) -> the NumPy ufunc computing it
_LOCAL_DTYPES = frozenset(np.dtype(t) for t in (np.bool_, np.int8, np.int16, np.int32, np.int64,
                                                np.uint8, np.uint16, np.uint32, np.uint64,
                                                np.float16, np.float32, np.float64))


def _local_ops():
    MPI = _mpi()
    pairs = [(MPI.SUM, np.add), (MPI.PROD, np.multiply), (MPI.MIN, np.minimum),
             (MPI.MAX, np.maximum), (MPI.LAND, np.logical_and), (MPI.LOR, np.logical_or),
             (MPI.LXOR, np.logical_xor), (MPI.BAND, np.bitwise_and), (MPI.BOR, np.bitwise_or),
             (MPI.BXOR, np.bitwise_xor)]
    _LOCAL.update((mpi_op.py2f(), ufunc) for mpi_op, ufunc in pairs)   # (MPI ops are unhashable)


def broadcast(tensor, src=None, group=None, async_op=False, group_src=None):
    """Copy ``tensor`` from rank ``src`` to every rank."""
    what = "broadcast"
    pg = _resolve(group)
    root = _group_peer(pg, src, group_src, what, "src")
    b = _Buf(tensor, what)
    arr = b.arr
    return _run(pg, _desc(what, arr.dtype, arr.shape, root),
                lambda: pg.comm.Bcast(arr, root), lambda: pg.comm.Ibcast(arr, root),
                b.done, async_op, [tensor])


def reduce(tensor, dst=None, op=ReduceOp.SUM, group=None, async_op=False, group_dst=None):
    """Reduce ``tensor`` over the group into rank ``dst``'s tensor."""
    what = "reduce"
    pg = _resolve(group)
    root = _group_peer(pg, dst, group_dst, what, "dst")
    b = _Buf(tensor, what)
    arr = b.arr
    mop = _mpi_op(op, arr.dtype, what)
    MPI = _mpi()
    mine = pg.rank() == root
    send = MPI.IN_PLACE if mine else arr
    recv = arr if mine else None

    def finish():
        if mine:
            if op == ReduceOp.AVG:
                _avg(arr, pg.size())
            b.done()
    return _run(pg, _desc(what, arr.dtype, arr.shape, op, root),
                lambda: pg.comm.Reduce(send, recv, mop, root),
                lambda: pg.comm.Ireduce(send, recv, mop, root), finish, async_op, [tensor])


def all_gather(tensor_list, tensor, group=None, async_op=False):
    """Every rank's ``tensor`` into ``tensor_list`` (one tensor per rank) on every rank."""
    what = "all_gather"
    pg = _resolve(group)
    b = _Buf(tensor, what)
    arr = b.arr
    _check_tensor_list(tensor_list, pg.size(), arr, what, "tensor_list")
    out = np.empty((pg.size(),) + arr.shape, dtype=arr.dtype)

    def finish():
        for t, part in zip(tensor_list, out):
            _store(t, part)
    return _run(pg, _desc(what, arr.dtype, arr.shape), lambda: pg.comm.Allgather(arr, out),
                lambda: pg.comm.Iallgather(arr, out), finish, async_op, tensor_list)


def all_gather_into_tensor(output_tensor, input_tensor, group=None, async_op=False):
    """Every rank's ``input_tensor`` concatenated (or stacked) into ``output_tensor``."""
    what = "all_gather_into_tensor"
    pg = _resolve(group)
    ib, ob = _Buf(input_tensor, what, "input_tensor"), _Buf(output_tensor, what, "output_tensor")
    if ob.arr.dtype != ib.arr.dtype:
        raise TypeError(f"{what}: output dtype {output_tensor.dtype} differs from input dtype "
                        f"{input_tensor.dtype}")
    if ob.arr.size != ib.arr.size * pg.size():
        raise ValueError(f"{what}: output tensor size must be equal to world_size times input "
                         f"tensor size ({ob.arr.size} != {pg.size()} * {ib.arr.size})")
    return _run(pg, _desc(what, ib.arr.dtype, ib.arr.shape),
                lambda: pg.comm.Allgather(ib.arr, ob.arr),
                lambda: pg.comm.Iallgather(ib.arr, ob.arr), ob.done, async_op, [output_tensor])


def reduce_scatter_tensor(output, input, op=ReduceOp.SUM, group=None, async_op=False):
    """Reduce ``input`` over the group; rank i keeps the i-th equal chunk in ``output``."""
    what = "reduce_scatter_tensor"
    pg = _resolve(group)
    ib, ob = _Buf(input, what, "input"), _Buf(output, what, "output")
    if ob.arr.dtype != ib.arr.dtype:
        raise TypeError(f"{what}: output dtype {output.dtype} differs from input dtype {input.dtype}")
    if ib.arr.size != ob.arr.size * pg.size():
        raise ValueError(f"{what}: input tensor must be the same size as output size times "
                         f"world size ({ib.arr.size} != {pg.size()} * {ob.arr.size})")
    mop = _mpi_op(op, ib.arr.dtype, what)

    def finish():
        if op == ReduceOp.AVG:
            _avg(ob.arr, pg.size())
        ob.done()
    return _run(pg, _desc(what, ib.arr.dtype, ib.arr.shape, op),
                lambda: pg.comm.Reduce_scatter_block(ib.arr, ob.arr, mop),
                lambda: pg.comm.Ireduce_scatter_block(ib.arr, ob.arr, mop), finish, async_op,
                [output])


def reduce_scatter(output, input_list, op=ReduceOp.SUM, group=None, async_op=False):
    """Reduce the lists over the group; rank i keeps the reduced ``input_list[i]``."""
    what = "reduce_scatter"
    pg = _resolve(group)
    ob = _Buf(output, what, "output")
    _check_tensor_list(input_list, pg.size(), ob.arr, what, "input_list")
    send = np.stack([_host_copy(t) for t in input_list])
    mop = _mpi_op(op, ob.arr.dtype, what)

    def finish():
        if op == ReduceOp.AVG:
            _avg(ob.arr, pg.size())
        ob.done()
    return _run(pg, _desc(what, ob.arr.dtype, ob.arr.shape, op),
                lambda: pg.comm.Reduce_scatter_block(send, ob.arr, mop),
                lambda: pg.comm.Ireduce_scatter_block(send, ob.arr, mop), finish, async_op,
                [output])


def gather(tensor, gather_list=None, dst=None, group=None, async_op=False, group_dst=None):
    """Every rank's ``tensor`` into ``gather_list`` on rank ``dst``."""
    what = "gather"
    pg = _resolve(group)
    root = _group_peer(pg, dst, group_dst, what, "dst")
    b = _Buf(tensor, what)
    arr = b.arr
    mine = pg.rank() == root
    if mine:
        _check_tensor_list(gather_list, pg.size(), arr, what, "gather_list")
        out = np.empty((pg.size(),) + arr.shape, dtype=arr.dtype)
    else:
        if gather_list:
            raise ValueError("Argument ``gather_list`` must NOT be specified on non-destination ranks.")
        out = None

    def finish():
        if mine:
            for t, part in zip(gather_list, out):
                _store(t, part)
    return _run(pg, _desc(what, arr.dtype, arr.shape, root),
                lambda: pg.comm.Gather(arr, out, root), lambda: pg.comm.Igather(arr, out, root),
                finish, async_op, gather_list if mine else [])


def scatter(tensor, scatter_list=None, src=None, group=None, async_op=False, group_src=None):
    """Rank ``src``'s ``scatter_list[i]`` into rank i's ``tensor``."""
    what = "scatter"
    pg = _resolve(group)
    root = _group_peer(pg, src, group_src, what, "src")
    b = _Buf(tensor, what)
    arr = b.arr
    if pg.rank() == root:
        _check_tensor_list(scatter_list, pg.size(), arr, what, "scatter_list")
        send = np.stack([_host_copy(t) for t in scatter_list])
    else:
        if scatter_list:
            raise ValueError("Argument ``scatter_list`` must NOT be specified on non-source ranks.")
        send = None
    return _run(pg, _desc(what, arr.dtype, arr.shape, root),
                lambda: pg.comm.Scatter(send, arr, root), lambda: pg.comm.Iscatter(send, arr, root),
                b.done, async_op, [tensor])


def _splits(sizes, rows, n, what, name):
    if sizes is None or len(sizes) == 0:
        if rows % n:
            raise ValueError(f"{what}: the first dimension ({rows}) of {name} must divide evenly "
                             f"by the group size ({n}) when no split sizes are given")
        return [rows // n] * n
    sizes = [int(s) for s in sizes]
    if len(sizes) != n or sum(sizes) != rows or min(sizes) < 0:
        raise ValueError(f"{what}: {name} split sizes {sizes} must be {n} non-negative numbers "
                         f"summing to its first dimension ({rows})")
    return sizes


def all_to_all_single(output, input, output_split_sizes=None, input_split_sizes=None, group=None,
                      async_op=False):
    """Split ``input`` along dim 0, send piece i to rank i, concatenate what arrives into ``output``."""
    what = "all_to_all_single"
    pg = _resolve(group)
    n = pg.size()
    ib, ob = _Buf(input, what, "input"), _Buf(output, what, "output")
    if ob.arr.dtype != ib.arr.dtype:
        raise TypeError(f"{what}: output dtype {output.dtype} differs from input dtype {input.dtype}")
    if ib.arr.ndim == 0 or ob.arr.ndim == 0 or ib.arr.shape[1:] != ob.arr.shape[1:]:
        raise ValueError(f"{what}: input {tuple(input.shape)} and output {tuple(output.shape)} must "
                         f"have at least one dimension and the same trailing dimensions")
    row = int(np.prod(ib.arr.shape[1:], dtype=np.int64))
    ins = _splits(input_split_sizes, ib.arr.shape[0], n, what, "input")
    outs = _splits(output_split_sizes, ob.arr.shape[0], n, what, "output")
    ic = [s * row for s in ins]
    oc = [s * row for s in outs]
    idisp = np.cumsum([0] + ic[:-1]).tolist()
    odisp = np.cumsum([0] + oc[:-1]).tolist()
    send = [ib.arr, (ic, idisp)]
    recv = [ob.arr, (oc, odisp)]
    return _run(pg, _desc(what, ib.arr.dtype, ib.arr.shape[1:]),
                lambda: pg.comm.Alltoallv(send, recv), lambda: pg.comm.Ialltoallv(send, recv),
                ob.done, async_op, [output])


def all_to_all(output_tensor_list, input_tensor_list, group=None, async_op=False):
    """``input_tensor_list[i]`` goes to rank i; what rank j sends lands in ``output_tensor_list[j]``."""
    what = "all_to_all"
    pg = _resolve(group)
    n = pg.size()
    for name, lst in (("input_tensor_list", input_tensor_list),
                      ("output_tensor_list", output_tensor_list)):
        if not isinstance(lst, (list, tuple)) or len(lst) != n or \
                not all(isinstance(t, Tensor) for t in lst):
            raise ValueError(f"{what}: {name} must be a list of {n} tensors")
    dtypes = {t._data.dtype for t in list(input_tensor_list) + list(output_tensor_list)}
    if len(dtypes) != 1:
        raise TypeError(f"{what}: all tensors must have the same dtype, got {sorted(map(str, dtypes))}")
    dtype = dtypes.pop()
    send = np.concatenate([_host_copy(t).reshape(-1) for t in input_tensor_list])
    ic = [t._data.size for t in input_tensor_list]
    oc = [t._data.size for t in output_tensor_list]
    recv = np.empty(sum(oc), dtype=dtype)
    idisp = np.cumsum([0] + ic[:-1]).tolist()
    odisp = np.cumsum([0] + oc[:-1]).tolist()

    def finish():
        for t, c, d in zip(output_tensor_list, oc, odisp):
            _store(t, recv[d:d + c])
    return _run(pg, _desc(what, dtype), lambda: pg.comm.Alltoallv([send, (ic, idisp)], [recv, (oc, odisp)]),
                lambda: pg.comm.Ialltoallv([send, (ic, idisp)], [recv, (oc, odisp)]), finish,
                async_op, output_tensor_list)


def barrier(group=None, async_op=False, device_ids=None, timeout=None):
    """Wait until every rank of the group has reached the barrier."""
    pg = _resolve(group)
    if timeout is not None:
        import copy
        pg = copy.copy(pg)
        pg.timeout = timeout.total_seconds()
    if async_op:
        return Work(pg, "barrier", [pg.comm.Ibarrier()])
    with _armed(pg, "barrier"):
        pg.comm.Barrier()
    return None


def monitored_barrier(group=None, timeout=None, wait_all_ranks=False):
    """A barrier that ends the job, naming the call, when it lasts past ``timeout``."""
    return barrier(group, timeout=timeout)


# ---- point to point ------------------------------------------------------------------------

def _p2p_peer(pg, rank, group_rank, what, name, any_ok=False):
    if rank is None and group_rank is None:
        if any_ok:
            return _mpi().ANY_SOURCE
        raise ValueError(f"{what}: {name} must be given")
    r = _group_peer(pg, rank, group_rank, what, name)
    if r == pg.rank():
        raise ValueError(f"Invalid {name} rank: {name} must not be the same as the rank of the "
                         f"current process.")
    return r


def send(tensor, dst=None, group=None, tag=0, group_dst=None):
    """Send ``tensor`` to rank ``dst`` (blocks until the data has left this buffer)."""
    pg = _resolve(group)
    peer = _p2p_peer(pg, dst, group_dst, "send", "dst")
    b = _Buf(tensor, "send")
    with _armed(pg, "send"):
        pg.comm.Send(b.arr, peer, tag)


def _recv_check(status, arr, what):
    got = status.Get_count(_mpi().BYTE)
    if got != arr.nbytes:
        raise RuntimeError(f"{what}: received {got} bytes for a tensor of {arr.nbytes} bytes "
                           f"(the sender's tensor has a different size)")
    return status.Get_source()


def _recv_error(e, what):
    return RuntimeError(f"{what}: the message sent is larger than the receiving tensor ({e})")


def recv(tensor, src=None, group=None, tag=0, group_src=None):
    """Receive into ``tensor`` from ``src`` (any rank if None); returns the sender's rank."""
    MPI = _mpi()
    pg = _resolve(group)
    peer = _p2p_peer(pg, src, group_src, "recv", "src", any_ok=True)
    b = _Buf(tensor, "recv")
    status = MPI.Status()
    with _armed(pg, "recv"):
        try:
            pg.comm.Recv(b.arr, peer, tag, status)
        except MPI.Exception as e:
            raise _recv_error(e, "recv") from None
    source = _recv_check(status, b.arr, "recv")
    b.done()
    return pg.ranks[source]


def isend(tensor, dst=None, group=None, tag=0, group_dst=None):
    pg = _resolve(group)
    peer = _p2p_peer(pg, dst, group_dst, "isend", "dst")
    b = _Buf(tensor, "isend")
    return Work(pg, "isend", [pg.comm.Isend(b.arr, peer, tag)], result=[tensor])


class _RecvWork(Work):
    """irecv's Work: checks the size that arrived when it completes."""

    def wait(self, timeout=None):
        if not self._done:
            MPI = _mpi()
            with _armed(self._pg, "irecv"):
                try:
                    self._requests[0].Wait(self._status)
                except MPI.Exception as e:
                    raise _recv_error(e, "irecv") from None
            self._complete()
        return True

    def is_completed(self):
        if not self._done and self._requests[0].Test(self._status):
            self._complete()
        return self._done


def irecv(tensor, src=None, group=None, tag=0, group_src=None):
    MPI = _mpi()
    pg = _resolve(group)
    peer = _p2p_peer(pg, src, group_src, "irecv", "src", any_ok=True)
    b = _Buf(tensor, "irecv")
    status = MPI.Status()

    def finish():
        _recv_check(status, b.arr, "irecv")
        b.done()
    w = _RecvWork(pg, "irecv", [pg.comm.Irecv(b.arr, peer, tag)], finish, [tensor])
    w._status = status
    return w


# ---- Python objects (pickled, as torch does) ---------------------------------------------

def broadcast_object_list(object_list, src=None, group=None, device=None, group_src=None):
    """Rank ``src``'s ``object_list`` replaces every rank's, element by element."""
    pg = _resolve(group)
    root = _group_peer(pg, src, group_src, "broadcast_object_list", "src")
    with _armed(pg, "broadcast_object_list"):
        _agree(pg, _desc("broadcast_object_list", len(object_list), root))
        got = pg.comm.bcast(list(object_list) if pg.rank() == root else None, root)
    object_list[:] = got


def all_gather_object(object_list, obj, group=None):
    """Every rank's ``obj`` into ``object_list`` (one entry per rank)."""
    pg = _resolve(group)
    if len(object_list) != pg.size():
        raise ValueError(f"all_gather_object: object_list must have {pg.size()} entries "
                         f"(the group's size), got {len(object_list)}")
    with _armed(pg, "all_gather_object"):
        _agree(pg, ("all_gather_object",))
        got = pg.comm.allgather(obj)
    object_list[:] = got


def gather_object(obj, object_gather_list=None, dst=None, group=None, group_dst=None):
    pg = _resolve(group)
    root = _group_peer(pg, dst, group_dst, "gather_object", "dst")
    with _armed(pg, "gather_object"):
        _agree(pg, _desc("gather_object", root))
        got = pg.comm.gather(obj, root)
    if pg.rank() == root:
        if object_gather_list is None or len(object_gather_list) != pg.size():
            raise ValueError(f"gather_object: object_gather_list must have {pg.size()} entries on "
                             f"the destination rank")
        object_gather_list[:] = got


def scatter_object_list(scatter_object_output_list, scatter_object_input_list=None, src=None,
                        group=None, group_src=None):
    pg = _resolve(group)
    root = _group_peer(pg, src, group_src, "scatter_object_list", "src")
    if not isinstance(scatter_object_output_list, list) or len(scatter_object_output_list) < 1:
        raise ValueError("Expected argument scatter_object_output_list to be a list of size at "
                         "least 1.")
    with _armed(pg, "scatter_object_list"):
        _agree(pg, _desc("scatter_object_list", root))
        got = pg.comm.scatter(list(scatter_object_input_list) if pg.rank() == root else None, root)
    scatter_object_output_list[0] = got


__all__ = ["ReduceOp", "Work", "all_reduce", "broadcast", "reduce", "all_gather",
           "all_gather_into_tensor", "reduce_scatter_tensor", "reduce_scatter", "gather", "scatter",
           "all_to_all_single", "all_to_all", "barrier", "monitored_barrier", "send", "recv",
           "isend", "irecv", "broadcast_object_list", "all_gather_object", "gather_object",
           "scatter_object_list", "GroupMember"]
