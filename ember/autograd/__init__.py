"""Automatic differentiation: Function, backward, grad, grad modes, gradcheck."""
from .function import Function, Op, once_differentiable, Node
from .engine import backward, grad
from .grad_mode import (no_grad, enable_grad, set_grad_enabled, inference_mode,
                        is_grad_enabled, is_inference_mode_enabled)
from .anomaly import (detect_anomaly, set_detect_anomaly, is_anomaly_enabled,
                      is_anomaly_check_nan_enabled)
from . import graph   # (functional sits above ember.ops: ember/__init__.py loads it)
from .gradcheck import gradcheck, gradgradcheck

__all__ = ["Function", "once_differentiable", "backward", "grad", "no_grad", "enable_grad",
           "set_grad_enabled", "inference_mode", "gradcheck", "gradgradcheck",
           "detect_anomaly", "set_detect_anomaly", "functional", "graph"]
