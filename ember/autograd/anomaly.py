"""Anomaly detection: record where each op ran, and fail on NaN gradients.

With it on, every recorded node keeps the stack of its forward call, and a
backward that produces a NaN raises, naming the op and that stack.
It slows every op down; use it to find a bug, not in training runs.

The switch is process-wide, as torch's is (unlike grad mode, which is per
thread): turning it on in one thread turns it on in all.
"""


class _AnomalyMode:
    __slots__ = ("enabled", "check_nan")


state = _AnomalyMode()      # read on every recorded op: a plain object, one slot read
state.enabled = False
state.check_nan = True


def is_anomaly_enabled():
    return state.enabled


def is_anomaly_check_nan_enabled():
    return state.check_nan


class set_detect_anomaly:
    """Turn anomaly detection on or off (at once; undone on leaving ``with``)."""

    def __init__(self, mode, check_nan=True):
        self._prev = (state.enabled, state.check_nan)
        state.enabled = bool(mode)
        state.check_nan = bool(check_nan)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        state.enabled, state.check_nan = self._prev
        return False


class detect_anomaly:
    """Context manager (and decorator) enabling anomaly detection inside it."""

    def __init__(self, check_nan=True):
        self.check_nan = check_nan

    def __enter__(self):
        import warnings
        warnings.warn("Anomaly Detection has been enabled. This mode will increase the runtime "
                      "and should only be enabled for debugging.", UserWarning, stacklevel=2)
        self._prev = (state.enabled, state.check_nan)
        state.enabled = True
        state.check_nan = self.check_nan
        return self

    def __exit__(self, *exc):
        state.enabled, state.check_nan = self._prev
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
    state.enabled = bool(enabled)
    state.check_nan = bool(check_nan)
