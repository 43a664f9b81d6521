"""torch.backends.cudnn: the flags torch programs set before training.

No cuDNN here (Ember computes on the CPU): ``is_available()`` is False and
the flags, settable as in torch, change nothing.  Their values start as a
CPU-only torch's.
"""
enabled = True
benchmark = False
benchmark_limit = 10
deterministic = False
allow_tf32 = True


def is_available():
    return False


def version():
    return None


def is_acceptable(tensor):
    return False
