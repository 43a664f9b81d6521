"""SyncBatchNorm: batch norm whose statistics cover the whole global batch.

Under DistributedDataParallel each rank sees only its share of the batch;
SyncBatchNorm all-reduces the per-channel sums (forward: the mean, then the
centred squares, two passes as a single process computes them; backward:
the sums of dy and dy * x_hat) so that every rank normalises exactly as one
process would over the concatenated batch.  Outside a process group of more
than one rank, or in eval mode, it is plain batch norm.
"""
from ... import _dtype as D
from ...autograd.function import Function
from .. import functional as F
from .batchnorm import _BatchNorm

__all__ = ["SyncBatchNorm"]


def _all_reduce(t, pg):
    from ...distributed import all_reduce
    all_reduce(t, group=pg)
    return t


class _SyncBatchNormFn(Function):
    """Normalise with the global batch's statistics; ``stats`` receives the
    global mean, biased variance and element count for the running stats."""
    _ctx_fields = ("total", "pg", "dims", "shape")

    @staticmethod
    def forward(ctx, input, weight, bias, eps, pg, stats):
        import ember
        dims = [0] + list(range(2, input.dim()))
        shape = [1, input.shape[1]] + [1] * (input.dim() - 2)
        count = float(input.numel() // input.shape[1])
        packed = ember.cat([input.sum(dims), ember.tensor([count], dtype=input.dtype)])
        _all_reduce(packed, pg)
        total = packed[-1].item()
        mean = packed[:-1] / total
        centred = input - mean.reshape(shape)
        var = _all_reduce((centred * centred).sum(dims), pg) / total
        invstd = (var + eps).rsqrt()
        xhat = centred * invstd.reshape(shape)
        out = xhat
        if weight is not None:
            out = out * weight.reshape(shape)
        if bias is not None:
            out = out + bias.reshape(shape)
        ctx.save_for_backward(xhat, invstd, weight)
        ctx.total, ctx.pg, ctx.dims, ctx.shape = total, pg, dims, shape
        stats.update(mean=mean, var=var, total=total)
        return out

    @staticmethod
    def backward(ctx, grad):
        import ember
        xhat, invstd, weight = ctx.saved_tensors
        dims, shape = ctx.dims, ctx.shape
        sum_dy = grad.sum(dims)
        sum_dy_xhat = (grad * xhat).sum(dims)
        both = _all_reduce(ember.stack([sum_dy, sum_dy_xhat]), ctx.pg)
        scale = invstd if weight is None else invstd * weight
        g_input = scale.reshape(shape) * (grad - (both[0] / ctx.total).reshape(shape)
                                          - xhat * (both[1] / ctx.total).reshape(shape))
        g_weight = sum_dy_xhat if weight is not None and ctx.needs_input_grad[1] else None
        g_bias = sum_dy if ctx.needs_input_grad[2] else None
        return g_input, g_weight, g_bias, None, None, None


class SyncBatchNorm(_BatchNorm):
    """Batch norm over the global batch of a process group (torch.nn.SyncBatchNorm).

    Unlike torch's, it runs on the CPU (torch's needs a GPU)."""

    def __init__(self, num_features, eps=1e-5, momentum=0.1, affine=True,
                 track_running_stats=True, process_group=None, device=None, dtype=None):
        super().__init__(num_features, eps, momentum, affine, track_running_stats, device, dtype)
        self.process_group = process_group

    def _check_input_dim(self, input):
        if input.dim() < 2:
            raise ValueError(f"expected at least 2D input (got {input.dim()}D input)")

    def _check_non_zero_input_channels(self, input):
        if input.size(1) == 0:
            raise ValueError("SyncBatchNorm number of input channels should be non-zero")

    def forward(self, input):
        from ... import distributed as dist
        self._check_input_dim(input)
        self._check_non_zero_input_channels(input)
        sync = self.training and dist.is_initialized() and \
            dist.get_world_size(self.process_group) > 1
        if not sync:
            return super().forward(input)
        factor = 0.0 if self.momentum is None else self.momentum
        if self.track_running_stats and self.num_batches_tracked is not None:
            nbt = self.num_batches_tracked
            nbt._data += 1
            nbt._vc[0] += 1
            factor = 1.0 / float(nbt._data) if self.momentum is None else self.momentum
        stats = {}
        p = self._parameters
        out = _SyncBatchNormFn.apply(input, p["weight"], p["bias"], self.eps, self.process_group,
                                     stats)
        if self.track_running_stats:
            import ember
            with ember.no_grad():
                n = stats["total"]
                unbiased = stats["var"] * (n / max(n - 1.0, 1.0))
                rm, rv = self.running_mean, self.running_var
                rm.mul_(1 - factor).add_(stats["mean"].to(rm.dtype), alpha=factor)
                rv.mul_(1 - factor).add_(unbiased.to(rv.dtype), alpha=factor)
        return out

    @classmethod
    def convert_sync_batchnorm(cls, module, process_group=None):
        """``module`` with every BatchNorm*d layer replaced by a SyncBatchNorm
        holding the same parameters and running statistics."""
        out = module
        if isinstance(module, _BatchNorm) and not isinstance(module, SyncBatchNorm):
            out = cls(module.num_features, module.eps, module.momentum, module.affine,
                      module.track_running_stats, process_group)
            if module.affine:
                import ember
                with ember.no_grad():
                    out.weight = module.weight
                    out.bias = module.bias
            out.running_mean = module.running_mean
            out.running_var = module.running_var
            out.num_batches_tracked = module.num_batches_tracked
            out.training = module.training
            if hasattr(module, "qconfig"):
                out.qconfig = module.qconfig
        for name, child in module.named_children():
            out.add_module(name, cls.convert_sync_batchnorm(child, process_group))
        del module
        return out
