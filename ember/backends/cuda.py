"""torch.backends.cuda: CUDA's flags.  Ember has no CUDA: ``is_built()`` is
False, and the matmul flags, settable as in torch, change nothing."""


class _MatmulFlags:
    allow_tf32 = False
    allow_fp16_reduced_precision_reduction = True
    allow_bf16_reduced_precision_reduction = True


matmul = _MatmulFlags()


def is_built():
    return False
