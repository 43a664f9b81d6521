"""Worker for tests/test_distributed.py: DistributedDataParallel against one process.

`mpiexec -n 2 python ddp.py [CAP:DTYPE:TOL ...]` (or -n 1).  Every rank also trains a
single-process reference on the concatenated global batch; after each step
the DDP replica's weights (and the loss averaged over ranks) must equal the
reference's to TOL.  Each argument is one configuration, run in turn in this
one launch (a launch costs ~2.5 s of CPU: two imports of Ember and Numba):
CAP the bucket size in MB ("-": DDP's default), DTYPE the default dtype, TOL
the tolerance.  Without arguments: "-:float64:1e-6".  float64, so that the
comparison measures the algorithm and not rounding (float32 takes 1e-5: Adam
amplifies last-bit differences in near-zero gradients past 1e-6 there).
"""
import copy
import sys

import numpy as np

import ember
import ember.distributed as dist
from ember import nn
from ember.nn import functional as F
from ember.nn.parallel import DistributedDataParallel as DDP
from ember.models import GPT, GPTConfig

dist.init_process_group("gloo")
rank, world = dist.get_rank(), dist.get_world_size()
cap, TOL = None, 1e-6     # (set per configuration at the bottom; read by close() and the checks)


def close(a, b, what):
    a = a.detach().numpy() if isinstance(a, ember.Tensor) else np.asarray(a)
    b = b.detach().numpy() if isinstance(b, ember.Tensor) else np.asarray(b)
    np.testing.assert_allclose(a, b, rtol=TOL, atol=TOL, err_msg=f"rank {rank}: {what}")


def same_state(ddp, ref, what):
    mine = ddp.module.state_dict()
    for k, v in ref.state_dict().items():
        close(mine[k], v, f"{what}: {k}")


def train(name, make_model, make_batch, loss_fn, steps=3, opt=ember.optim.SGD, make_ref=None,
          ddp_kw=None, set_to_none=True, **opt_kw):
    """DDP on this rank's half of each global batch vs one process on all of it
    (``make_ref``: the single-process model, when it differs)."""
    ember.manual_seed(rank + 1)          # each rank starts from different weights ...
    model = make_model()
    ddp = DDP(model, bucket_cap_mb=cap, **(ddp_kw or {}))  # ... and DDP broadcasts rank 0's
    ember.manual_seed(1)
    ref = (make_ref or make_model)()
    same_state(ddp, ref, f"{name} after construction")
    o1 = opt(ddp.parameters(), **opt_kw)
    o2 = opt(ref.parameters(), **opt_kw)
    for step in range(steps):
        x, y = make_batch(step)
        half = x.shape[0] // world
        sl = slice(rank * half, (rank + 1) * half)
        o1.zero_grad(set_to_none=set_to_none)
        loss = loss_fn(ddp(x[sl]), y[sl])
        loss.backward()
        o1.step()
        o2.zero_grad(set_to_none=set_to_none)
        ref_loss = loss_fn(ref(x), y)
        ref_loss.backward()
        o2.step()
        mean = loss.detach().clone()
        dist.all_reduce(mean, op=dist.ReduceOp.AVG)
        close(mean, ref_loss, f"{name} loss at step {step}")
        same_state(ddp, ref, f"{name} weights after step {step}")
    return ddp


def batch(shape, classes):
    def make(step):
        g = ember.Generator().manual_seed(100 + step)
        return ember.randn(*shape, generator=g), ember.randint(0, classes, (shape[0],), generator=g)
    return make


def run_checks():
    """Every check below, at the current ``cap``, ``TOL`` and default dtype."""
    # ---- an MLP, with Adam ------------------------------------------------------------------------
    train("MLP", lambda: nn.Sequential(nn.Linear(10, 32), nn.Tanh(), nn.Linear(32, 32), nn.ReLU(),
                                       nn.Linear(32, 4)),
          batch((8, 10), 4), F.cross_entropy, steps=4, opt=ember.optim.Adam, lr=1e-2)


    # gradient_as_bucket_view: the same training, with each .grad a slice of its bucket
    # (kept across steps when zero_grad leaves the gradients in place; a world of one
    # has no buckets).
    for set_to_none in (True, False):
        m = train("MLP, gradient_as_bucket_view", lambda: nn.Sequential(nn.Linear(10, 32), nn.Tanh(),
                                                                       nn.Linear(32, 4)),
                  batch((8, 10), 4), F.cross_entropy, steps=3, opt=ember.optim.SGD,
                  ddp_kw={"gradient_as_bucket_view": True}, set_to_none=set_to_none, lr=0.1,
                  momentum=0.9)
        views = [v for b in m._buckets for v in b.views]
        assert world == 1 or all(any(p.grad._data is v for v in views) for p in m.module.parameters())


    # ---- a CNN with SyncBatchNorm ----------------------------------------------------------------
    def plain_cnn():
        return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
                             nn.Conv2d(8, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
                             nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 5))


    def cnn():
        return nn.SyncBatchNorm.convert_sync_batchnorm(plain_cnn())


    # (the reference is the same CNN with plain BatchNorm2d over the whole batch)
    m = train("CNN+SyncBatchNorm", cnn, batch((6, 3, 8, 8), 5), F.cross_entropy, steps=3, lr=0.1,
              momentum=0.9, make_ref=plain_cnn)
    assert isinstance(m.module[1], nn.SyncBatchNorm) and m.module[1].num_batches_tracked.item() == 3


    # ---- the GPT (tied embedding and head: a parameter with two consumers) -----------------------
    cfg = GPTConfig(vocab_size=24, block_size=8, n_layer=2, n_head=2, n_embd=16, dropout=0.0)


    def tokens(step):
        g = ember.Generator().manual_seed(200 + step)
        idx = ember.randint(0, 24, (4, 9), generator=g)
        return idx[:, :-1], idx[:, 1:]


    def gpt_loss(logits, targets):
        return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1))


    train("GPT", lambda: GPT(cfg), tokens, gpt_loss, steps=3, opt=ember.optim.AdamW, lr=3e-3)

    # ---- no_sync: accumulated gradients equal the single-process sum -----------------------------
    ember.manual_seed(5)
    net = nn.Sequential(nn.Linear(6, 16), nn.GELU(), nn.Linear(16, 3))
    ref = copy.deepcopy(net)
    ddp = DDP(net, bucket_cap_mb=cap)
    make = batch((2 * world, 6), 3)
    for k in range(3):
        x, y = make(k)
        sl = slice(rank * 2, rank * 2 + 2)
        if k < 2:
            with ddp.no_sync():
                F.cross_entropy(ddp(x[sl]), y[sl]).backward()
            # Inside no_sync nothing was communicated: the ranks' gradients differ.
            g = ddp.module[0].weight.grad.clone()
            both = [ember.zeros_like(g) for _ in range(world)]
            dist.all_gather(both, g)
            assert world == 1 or not np.allclose(both[0].numpy(), both[1].numpy()), "no_sync communicated"
        else:
            F.cross_entropy(ddp(x[sl]), y[sl]).backward()
        F.cross_entropy(ref(x), y).backward()
    for (n, p), q in zip(ddp.module.named_parameters(), ref.parameters()):
        close(p.grad, q.grad, f"no_sync accumulation: {n}")

    # ---- the all-reduces start while backward runs ------------------------------------------------
    # Each parameter's gradient is accumulated as soon as its last contribution has
    # arrived, and a full bucket starts its all-reduce then: the last layer's bucket
    # must be in flight before the first layer's gradient exists, and every bucket
    # by the end.
    ember.manual_seed(6)
    deep = nn.Sequential(*[nn.Linear(64, 64) for _ in range(6)])
    ddp_deep = DDP(deep, bucket_cap_mb=0.02)
    assert len(ddp_deep._buckets) > 2, len(ddp_deep._buckets)
    out = ddp_deep(ember.randn(4, 64)).sum()
    red = ddp_deep._pending
    launched = {}
    for name, p in deep.named_parameters():
        p.register_post_accumulate_grad_hook(lambda p, name=name: launched.setdefault(name, len(red.requests)))
    out.backward()
    first_layer = min(launched["0.weight"], launched["0.bias"])
    if world > 1:                      # (a world of one all-reduces nothing)
        assert 1 <= first_layer < len(ddp_deep._buckets), launched
        assert max(launched.values()) == len(ddp_deep._buckets) == len(red.requests), launched
    else:
        assert len(launched) == 12 and not red.requests, launched

    # ---- state dicts, unused parameters ----------------------------------------------------------
    assert all(k.startswith("module.") for k in ddp.state_dict())
    assert set(ddp.state_dict()) == {"module." + k for k in net.state_dict()}


    class Branchy(nn.Module):
        def __init__(self):
            super().__init__()
            self.a = nn.Linear(4, 4)
            self.b = nn.Linear(4, 4)
            self.never = nn.Linear(4, 4)

        def forward(self, x, use_b):
            return self.b(self.a(x)) if use_b else self.a(x)


    ember.manual_seed(9)
    model = Branchy()
    ddp = DDP(model, find_unused_parameters=True, bucket_cap_mb=cap)
    x = ember.randn(3, 4)
    for step in range(2):
        ddp.zero_grad()
        ddp(x, use_b=(rank == 0)).sum().backward()      # rank 1 leaves b unused
        assert model.never.weight.grad is None           # unused everywhere: left alone
        g = model.b.weight.grad.clone()                  # used by rank 0 only: averaged with zeros
        ref = copy.deepcopy(model)
        ref.zero_grad()
        ref(x, True).sum().backward()
        if rank == 0:
            ref_b = ref.b.weight.grad / world
        else:
            ref_b = ember.zeros_like(g)
        dist.broadcast(ref_b, src=0)
        close(g, ref_b, "a parameter used on one rank only")

    ddp = DDP(Branchy())
    try:
        ddp(x, use_b=False).sum().backward()
    except RuntimeError as e:
        assert "find_unused_parameters=True" in str(e) and "b.weight" in str(e), str(e)
    else:
        raise AssertionError("an unused parameter without find_unused_parameters did not raise")

    # Two forwards, then backward through the first: an error, not a silent mix of steps.
    ddp = DDP(nn.Linear(3, 3))
    first = ddp(ember.randn(2, 3)).sum()
    second = ddp(ember.randn(2, 3)).sum()
    try:
        first.backward()
    except RuntimeError as e:
        assert "latest forward" in str(e), str(e)
    else:
        raise AssertionError("backward through a superseded forward did not raise")
    second.backward()
    assert ddp.module.weight.grad is not None


for config in sys.argv[1:] or ["-:float64:1e-6"]:
    bucket, dtype, tol = config.split(":")
    cap = None if bucket == "-" else float(bucket)
    TOL = float(tol)
    ember.set_default_dtype(getattr(ember, dtype))
    print(f"rank {rank}: checking bucket_cap_mb={cap} {dtype} tol {TOL}", flush=True)
    run_checks()
    print(f"rank {rank}: DDP ok (bucket_cap_mb={cap} {dtype})", flush=True)

dist.destroy_process_group()
