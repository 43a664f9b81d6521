"""Anomaly detection: record where each op ran, and fail on NaN/Inf gradients.

With it on, every recorded node keeps the stack of its forward call, and a
backward that produces a NaN or Inf raises, naming the op and that stack.
It slows every op down; use it to find a bug, not in training runs.
"""
from .grad_mode import state


def is_anomaly_enabled():
    return state.anomaly


def is_anomaly_check_nan_enabled():
    return state.anomaly_check_nan


class set_detect_anomaly:
    """Turn anomaly detection on or off (at once; undone on leaving ``with``)."""

    def __init__(self, mode, check_nan=True):
        self._prev = (state.anomaly, state.anomaly_check_nan)
        state.anomaly = bool(mode)
        state.anomaly_check_nan = bool(check_nan)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        state.anomaly, state.anomaly_check_nan = self._prev
        return False


class detect_anomaly:
    """Context manager (and decorator) enabling anomaly detection inside it."""

    def __init__(self, check_nan=True):
        self.check_nan = check_nan

    def __enter__(self):
        import warnings
        warnings.warn("Anomaly Detection has been enabled. This mode will increase the runtime "
                      "and should only be enabled for debugging.", UserWarning, stacklevel=2)
        self._prev = (state.anomaly, state.anomaly_check_nan)
        state.anomaly = True
        state.anomaly_check_nan = self.check_nan
        return self

    def __exit__(self, *exc):
        state.anomaly, state.anomaly_check_nan = self._prev
        return False

    def __call__(self, func):
        import functools

        @functools.wraps(func)
        def wrapper(*a, **k):
            with detect_anomaly(self.check_nan):
                return func(*a, **k)
        return wrapper


def set_anomaly_enabled(enabled, check_nan=True):
    """torch.set_anomaly_enabled: switch anomaly detection on or off."""
    state.anomaly = bool(enabled)
    state.anomaly_check_nan = bool(check_nan)
