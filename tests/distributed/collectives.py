"""Worker for tests/test_distributed.py, run as `mpiexec -n 2 python collectives.py`.

Every rank makes every rank's input from a seed, so it can compute the
expected result with NumPy and compare it with what the collective gave.
An assertion failure ends the job with a traceback (init_process_group's
excepthook) and a non-zero exit, which the test reports.
"""
import numpy as np

import ember
import ember.distributed as dist

dist.init_process_group("gloo")
rank, n = dist.get_rank(), dist.get_world_size()
R = dist.ReduceOp
DTYPES = ["float16", "float32", "float64", "int8", "int16", "int32", "int64", "uint8", "bool"]
NP_REDUCE = {R.SUM: np.sum, R.AVG: np.mean, R.PRODUCT: np.prod, R.MIN: np.min, R.MAX: np.max,
             R.BAND: np.bitwise_and.reduce, R.BOR: np.bitwise_or.reduce,
             R.BXOR: np.bitwise_xor.reduce}
checked = 0


def data(r, dtype, shape=(3, 5), salt=0):
    """Rank r's input: small values, so that products of int8 stay in range."""
    g = np.random.default_rng(1000 * r + 7 * salt + DTYPES.index(dtype))
    if dtype == "bool":
        return g.random(shape) < 0.5
    if dtype.startswith("float"):
        return (g.random(shape) * 4 - 2).astype(dtype)
    lo = 0 if dtype == "uint8" else -3
    return g.integers(lo, 4, shape).astype(dtype)


def expected(op, dtype, arrays):
    stack = np.stack(arrays)
    if dtype == "bool":
        logical = {R.SUM: np.any, R.MAX: np.any, R.BOR: np.any, R.PRODUCT: np.all, R.MIN: np.all,
                   R.BAND: np.all, R.BXOR: lambda s, axis: np.logical_xor.reduce(s, axis=axis)}
        return logical[op](stack, axis=0)
    out = NP_REDUCE[op](stack.astype(np.float64) if dtype.startswith("float") else stack, axis=0)
    return out.astype(dtype)


def same(got, want, what):
    global checked
    got = got.numpy() if isinstance(got, ember.Tensor) else got
    assert got.dtype == want.dtype, (what, got.dtype, want.dtype)
    if want.dtype.kind == "f":
        tol = 2e-3 if want.dtype == np.float16 else 1e-6
        np.testing.assert_allclose(got, want, rtol=tol, atol=tol, err_msg=what)
    else:
        np.testing.assert_array_equal(got, want, err_msg=what)
    checked += 1


def ops_for(dtype):
    ops = [R.SUM, R.PRODUCT, R.MIN, R.MAX]
    if dtype.startswith("float"):
        ops.append(R.AVG)
    if not dtype.startswith("float"):
        ops += [R.BAND, R.BOR, R.BXOR]
    return ops


# ---- reductions: every op and dtype, blocking and async ---------------------------------
for dtype in DTYPES:
    for op in ops_for(dtype):
        inputs = [data(r, dtype, salt=int(op)) for r in range(n)]
        want = expected(op, dtype, inputs)
        for async_op in (False, True):
            t = ember.from_numpy(inputs[rank].copy())
            v = t._version
            w = dist.all_reduce(t, op=op, async_op=async_op)
            if async_op:
                assert isinstance(w, dist.Work)
                w.wait()
                assert w.is_completed()
            else:
                assert w is None
            same(t, want, f"all_reduce {dtype} {op.name} async={async_op}")
            assert t._version > v

            t = ember.from_numpy(inputs[rank].copy())
            w = dist.reduce(t, dst=1, op=op, async_op=async_op)
            if async_op:
                w.wait()
            if rank == 1:
                same(t, want, f"reduce {dtype} {op.name}")
            else:
                same(t, inputs[rank], f"reduce leaves the non-root tensor {dtype} {op.name}")

            # reduce_scatter_tensor: rank r keeps rows [r*2, r*2+2) of the reduction.
            big = [data(r, dtype, (2 * n, 3), salt=int(op) + 50) for r in range(n)]
            wbig = expected(op, dtype, big)
            out = ember.from_numpy(np.zeros((2, 3), dtype=dtype))
            w = dist.reduce_scatter_tensor(out, ember.from_numpy(big[rank]), op=op,
                                           async_op=async_op)
            if async_op:
                w.wait()
            same(out, wbig[2 * rank:2 * rank + 2], f"reduce_scatter_tensor {dtype} {op.name}")
    # AVG on integers is refused with a clear error, the same on every rank.
    if not dtype.startswith("float"):
        try:
            dist.all_reduce(ember.from_numpy(data(rank, dtype)), op=R.AVG)
        except ValueError as e:
            assert "AVG" in str(e)
        else:
            raise AssertionError(f"AVG on {dtype} did not raise")

# ---- data movement: every dtype ------------------------------------------------------------
for dtype in DTYPES:
    inputs = [data(r, dtype, salt=99) for r in range(n)]
    mine = inputs[rank]
    for async_op in (False, True):
        def done(w):
            if async_op:
                w.wait()
        t = ember.from_numpy(mine.copy())
        done(dist.broadcast(t, src=1, async_op=async_op))
        same(t, inputs[1], f"broadcast {dtype}")

        lst = [ember.from_numpy(np.zeros_like(mine)) for _ in range(n)]
        done(dist.all_gather(lst, ember.from_numpy(mine), async_op=async_op))
        for r in range(n):
            same(lst[r], inputs[r], f"all_gather {dtype}")

        out = ember.from_numpy(np.zeros((n * 3, 5), dtype=dtype))
        done(dist.all_gather_into_tensor(out, ember.from_numpy(mine), async_op=async_op))
        same(out, np.concatenate(inputs), f"all_gather_into_tensor {dtype}")
        out = ember.from_numpy(np.zeros((n, 3, 5), dtype=dtype))
        done(dist.all_gather_into_tensor(out, ember.from_numpy(mine), async_op=async_op))
        same(out, np.stack(inputs), f"all_gather_into_tensor stacked {dtype}")

        glist = [ember.from_numpy(np.zeros_like(mine)) for _ in range(n)] if rank == 0 else None
        done(dist.gather(ember.from_numpy(mine), glist, dst=0, async_op=async_op))
        if rank == 0:
            for r in range(n):
                same(glist[r], inputs[r], f"gather {dtype}")

        slist = [ember.from_numpy(data(r, dtype, salt=5)) for r in range(n)] if rank == 1 else None
        t = ember.from_numpy(np.zeros_like(mine))
        done(dist.scatter(t, slist, src=1, async_op=async_op))
        same(t, data(rank, dtype, salt=5), f"scatter {dtype}")

        # all_to_all_single with uneven splits: rank r sends (r + k + 1) rows to rank k.
        rows = [[r + k + 1 for k in range(n)] for r in range(n)]
        src = [data(r, dtype, (sum(rows[r]), 2), salt=7) for r in range(n)]
        recv_rows = [rows[r][rank] for r in range(n)]
        out = ember.from_numpy(np.zeros((sum(recv_rows), 2), dtype=dtype))
        done(dist.all_to_all_single(out, ember.from_numpy(src[rank]), recv_rows, rows[rank],
                                    async_op=async_op))
        pieces = [src[r][sum(rows[r][:rank]):sum(rows[r][:rank + 1])] for r in range(n)]
        same(out, np.concatenate(pieces), f"all_to_all_single {dtype}")

    # point to point, blocking and not: a ring.
    nxt, prv = (rank + 1) % n, (rank - 1) % n
    t = ember.from_numpy(np.zeros_like(mine))
    if rank % 2 == 0:
        dist.send(ember.from_numpy(mine), dst=nxt)
        got = dist.recv(t, src=prv)
    else:
        got = dist.recv(t)
        dist.send(ember.from_numpy(mine), dst=nxt)
    assert got == prv
    same(t, inputs[prv], f"send/recv {dtype}")
    t = ember.from_numpy(np.zeros_like(mine))
    reqs = [dist.isend(ember.from_numpy(mine), dst=nxt, tag=3), dist.irecv(t, src=prv, tag=3)]
    for w in reqs:
        w.wait()
    same(t, inputs[prv], f"isend/irecv {dtype}")

# ---- the list forms: reduce_scatter, all_to_all --------------------------------------------
for async_op in (False, True):
    lists = [[data(r, "float64", (2, 3), salt=30 + j) for j in range(n)] for r in range(n)]
    out = ember.zeros(2, 3, dtype=ember.float64)
    w = dist.reduce_scatter(out, [ember.from_numpy(a) for a in lists[rank]], op=R.MAX,
                            async_op=async_op)
    if async_op:
        w.wait()
    same(out, np.max(np.stack([lists[r][rank] for r in range(n)]), axis=0), "reduce_scatter")
    # all_to_all: rank r sends a (r + 1, k + 1) block to rank k.
    blocks = [[data(r, "int32", (r + 1, k + 1), salt=40) for k in range(n)] for r in range(n)]
    outs = [ember.zeros(r + 1, rank + 1, dtype=ember.int32) for r in range(n)]
    w = dist.all_to_all(outs, [ember.from_numpy(b) for b in blocks[rank]], async_op=async_op)
    if async_op:
        w.wait()
    for r in range(n):
        same(outs[r], blocks[r][rank], "all_to_all")

# ---- non-contiguous tensors go through a copy and come back ------------------------------
base = ember.from_numpy(np.arange(12, dtype=np.float32).reshape(3, 4) * (rank + 1))
col = base[:, 1]
assert not col.is_contiguous()
dist.all_reduce(col)
want = np.arange(12, dtype=np.float32).reshape(3, 4)
want_col = want[:, 1] * sum(range(1, n + 1))
same(base[:, 1], want_col, "all_reduce on a strided view writes back")
same(base[:, 0], want[:, 0] * (rank + 1), "the rest of the base is untouched")

# ---- contiguous CPU tensors go to MPI without a copy --------------------------------------
from ember.distributed._ops import _Buf  # noqa: E402
t = ember.ones(4)
assert _Buf(t, "x").arr is t._data

# ---- another backend's tensors go through its to_host/from_host (the guard backend) ----------
import os, sys  # noqa: E402,E401
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import guard_backend  # noqa: E402
guard_backend.register()
g = ember.tensor([1.0, 2.0, 3.0], device="guard") * (rank + 1)
dist.all_reduce(g)
assert g.device.type == "guard"
same(g.cpu(), np.array([1.0, 2.0, 3.0], np.float32) * sum(range(1, n + 1)), "all_reduce on guard")
g = ember.full((2,), float(rank), device="guard")
dist.broadcast(g, src=1)
same(g.cpu(), np.ones(2, np.float32), "broadcast on guard")

# ---- objects, groups, barrier --------------------------------------------------------------
objs = [{"rank": rank}, "x" * rank, ember.tensor([float(rank)])]
dist.broadcast_object_list(objs, src=1)
assert objs[0] == {"rank": 1} and objs[1] == "x" and float(objs[2]) == 1.0
gathered = [None] * n
dist.all_gather_object(gathered, (rank, "hello"))
assert gathered == [(r, "hello") for r in range(n)]
got = [None] * n if rank == 1 else None
dist.gather_object({"from": rank}, got, dst=1)
if rank == 1:
    assert got == [{"from": r} for r in range(n)]
mine = [None]
dist.scatter_object_list(mine, [f"to {r}" for r in range(n)] if rank == 0 else None, src=0)
assert mine == [f"to {rank}"]
dist.monitored_barrier()

# DistributedSampler without num_replicas/rank takes them from the group.
from ember.utils.data import DistributedSampler  # noqa: E402
assert list(DistributedSampler(list(range(11)), seed=4)) == \
    list(DistributedSampler(list(range(11)), n, rank, seed=4))
assert len(DistributedSampler(list(range(11)))) == 6

g = dist.new_group([1])
if rank == 1:
    assert dist.get_rank(g) == 0 and dist.get_world_size(g) == 1
    t = ember.tensor([5.0])
    dist.all_reduce(t, group=g)
    same(t, np.array([5.0], np.float32), "all_reduce in a one-rank group")
else:
    assert g is dist.GroupMember.NON_GROUP_MEMBER
    assert dist.get_rank(g) == -1
dist.barrier()
w = dist.barrier(async_op=True)
w.wait()
assert dist.get_backend() == "gloo" and dist.is_initialized()
dist.destroy_process_group()
assert not dist.is_initialized()
print(f"rank {rank}: {checked} checks passed", flush=True)
