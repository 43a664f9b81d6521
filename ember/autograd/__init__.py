"""Automatic differentiation: Function, backward, grad, grad modes, gradcheck."""
from .function import Function, Op, once_differentiable, Node
from .engine import backward, grad
from .grad_mode import (no_grad, enable_grad, set_grad_enabled, inference_mode,
                        is_grad_enabled, is_inference_mode_enabled)
from .anomaly import (detect_anomaly, set_detect_anomaly, is_anomaly_enabled,
                      is_anomaly_check_nan_enabled)
from . import graph   # (functional sits above ember.ops: ember/__init__.py loads it)
from .gradcheck import gradcheck, gradgradcheck


def set_multithreading_enabled(mode):
    """torch's switch for running backward on per-device threads.  Ember's
    engine always runs backward in the calling thread, so either value gives
    the same results; usable as a context manager, as torch's."""
    return _MultithreadingSwitch(mode)


class _MultithreadingSwitch:
    def __init__(self, mode):
        self.mode = bool(mode)

    def __enter__(self):
        return None

    def __exit__(self, *exc):
        return False

__all__ = ["Function", "once_differentiable", "backward", "grad", "no_grad", "enable_grad",
           "set_grad_enabled", "inference_mode", "gradcheck", "gradgradcheck",
           "detect_anomaly", "set_detect_anomaly", "functional", "graph",
           "set_multithreading_enabled"]
