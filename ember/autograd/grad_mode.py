"""Switches for gradient recording: no_grad, enable_grad, set_grad_enabled, inference_mode.

Each works as a context manager and as a decorator, like torch's.  The state
is one module-level flag read on every op, so reading it must stay cheap.
"""
import functools


class _State:
    __slots__ = ("enabled", "inference", "anomaly", "anomaly_check_nan")


state = _State()
state.enabled = True
state.inference = False
state.anomaly = False
state.anomaly_check_nan = True


def is_grad_enabled():
    return state.enabled


def is_inference_mode_enabled():
    return state.inference


class _GradModeContext:
    """Base for the context managers: subclasses set ``_target`` in __init__."""

    def __call__(self, func):
        @functools.wraps(func)
        def wrapper(*args, **kwargs):
            with self.__class__(*self._args):
                return func(*args, **kwargs)
        return wrapper

    def __enter__(self):
        self._prev = state.enabled
        state.enabled = self._target

    def __exit__(self, *exc):
        state.enabled = self._prev
        return False

    def clone(self):
        return self.__class__(*self._args)


class no_grad(_GradModeContext):
    """Disable gradient recording: results of ops do not require grad."""

    def __init__(self, orig_func=None):
        self._target = False
        self._args = ()
        if orig_func is not None and callable(orig_func):  # used as @no_grad without ()
            self._wrapped = self(orig_func)

    def __new__(cls, orig_func=None):
        if orig_func is not None and callable(orig_func):
            inst = super().__new__(cls)
            inst.__init__()
            return inst(orig_func)
        return super().__new__(cls)


class enable_grad(_GradModeContext):
    """Enable gradient recording, e.g. inside a ``no_grad`` block."""

    def __init__(self, orig_func=None):
        self._target = True
        self._args = ()

    def __new__(cls, orig_func=None):
        if orig_func is not None and callable(orig_func):
            inst = super().__new__(cls)
            inst.__init__()
            return inst(orig_func)
        return super().__new__(cls)


class set_grad_enabled(_GradModeContext):
    """Set recording on or off.  Takes effect at once (as a function call) and
    is undone on leaving a ``with`` block."""

    def __init__(self, mode):
        if not isinstance(mode, bool):
            raise TypeError(f"set_grad_enabled(): argument 'mode' must be bool, not {type(mode).__name__}")
        self._prev = state.enabled
        self._target = mode
        self._args = (mode,)
        state.enabled = mode

    def __enter__(self):
        pass

    def __exit__(self, *exc):
        state.enabled = self._prev
        return False


class inference_mode(_GradModeContext):
    """Like no_grad; tensors made inside are marked as inference tensors."""

    def __init__(self, mode=True):
        if callable(mode):
            raise TypeError("use @inference_mode() with parentheses")
        self._target = not mode
        self._mode = mode
        self._args = (mode,)

    def __enter__(self):
        self._prev = state.enabled
        self._prev_inf = state.inference
        state.enabled = self._target if self._mode else state.enabled
        state.inference = self._mode

    def __exit__(self, *exc):
        state.enabled = self._prev
        state.inference = self._prev_inf
        return False
