"""Switches for gradient recording: no_grad, enable_grad, set_grad_enabled, inference_mode.

Each works as a context manager and as a decorator, like torch's (a
decorated generator function runs under the mode each time it resumes).

The modes belong to the calling thread, as torch's do: a ``no_grad`` block
in one thread leaves recording on in every other, and a new thread starts
with recording on and inference mode off whatever its parent was doing.
``state`` is read on every op, so it is a ``threading.local`` whose defaults
are class attributes: a read is one attribute lookup, and a thread that
never switches a mode stores nothing.
"""
import functools
import inspect
import threading
import warnings



class _ThreadModes(threading.local):
    """Grad mode and inference mode of the current thread.  The class
    attributes are what every thread starts with; assigning ``state.enabled``
    changes the calling thread's value only."""
    enabled = True       # record ops for autograd
    inference = False    # inside inference_mode()


state = _ThreadModes()


def is_grad_enabled():
    return state.enabled


def is_inference_mode_enabled():
    return state.inference


def _decorate(make_context, func):
    """Wrap ``func`` so each call runs inside a fresh ``make_context()``.

    A generator function gets the mode each time it runs (its first step,
    every resume, close and throw) and the caller's mode back at every
    ``yield``, as torch does: the mode must not leak into the code that
    iterates over it.
    """
    if inspect.isclass(func):
        warnings.warn("Decorating classes is deprecated and will be disabled in future versions. "
                      "You should only decorate functions or methods. To preserve the current "
                      "behavior of class decoration, you can directly decorate the `__init__` "
                      "method and nothing else.", FutureWarning, stacklevel=3)
        cls = func

        def func(*args, **kwargs):
            return cls(*args, **kwargs)
    elif inspect.isgeneratorfunction(func):
        @functools.wraps(func)
        def generator_wrapper(*args, **kwargs):
            gen = func(*args, **kwargs)
            try:
                with make_context():
                    item = gen.send(None)
                while True:
                    try:
                        sent = yield item
                    except GeneratorExit:
                        with make_context():
                            gen.close()
                        raise
                    except BaseException as exc:
                        with make_context():
                            item = gen.throw(exc)
                    else:
                        with make_context():
                            item = gen.send(sent)
            except StopIteration as stop:
                return stop.value
        return generator_wrapper

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        with make_context():
            return func(*args, **kwargs)
    return wrapper


class _GradModeContext:
    """Base of the four switches.  A subclass sets ``_args`` (what ``clone``
    passes to make a fresh one); ``__enter__`` keeps the previous mode on
    the instance, so a decorator makes a fresh instance for every call."""

    _args = ()

    def __call__(self, func):
        return _decorate(self.clone, func)

    def clone(self):
        return self.__class__(*self._args)


class _NoParamContext(_GradModeContext):
    """A switch usable as ``@no_grad`` as well as ``@no_grad()``."""

    def __new__(cls, orig_func=None):
        if orig_func is None:
            return super().__new__(cls)
        return cls()(orig_func)

    def __init__(self, orig_func=None):
        pass


class no_grad(_NoParamContext):
    """Disable gradient recording in this thread: results of ops do not require grad."""

    def __enter__(self):
        self._prev = state.enabled
        state.enabled = False

    def __exit__(self, *exc):
        state.enabled = self._prev
        return False


class enable_grad(_NoParamContext):
    """Enable gradient recording in this thread, e.g. inside a ``no_grad`` block."""

    def __enter__(self):
        self._prev = state.enabled
        state.enabled = True

    def __exit__(self, *exc):
        state.enabled = self._prev
        return False


class set_grad_enabled(_GradModeContext):
    """Set recording on or off in this thread.  Takes effect at once (as a
    function call) and is undone on leaving a ``with`` block; as a decorator
    it leaves the mode as it was and applies it to each call."""

    def __init__(self, mode):
        if not isinstance(mode, bool):
            raise TypeError(f"set_grad_enabled(): argument 'enabled' (position 1) must be bool, "
                            f"not {type(mode).__name__}")
        self._prev = state.enabled
        self._mode = mode
        self._args = (mode,)
        state.enabled = mode

    def __call__(self, func):
        state.enabled = self._prev      # (the constructor already switched; a decorator must not)
        return super().__call__(func)

    def __enter__(self):
        state.enabled = self._mode

    def __exit__(self, *exc):
        state.enabled = self._prev
        return False


class inference_mode(_GradModeContext):
    """``inference_mode()`` (or ``inference_mode(True)``) turns recording off
    in this thread, like no_grad; ``inference_mode(False)`` turns recording
    on and inference mode off, as torch's does.  Usable bare as a decorator.
    (Ember has no inference tensors: results are ordinary tensors.)"""

    def __new__(cls, mode=True):
        if isinstance(mode, bool):
            return super().__new__(cls)
        return cls()(mode)      # (@inference_mode without parentheses)

    def __init__(self, mode=True):
        self._mode = mode
        self._args = (mode,)

    def __enter__(self):
        self._prev = (state.enabled, state.inference)
        state.enabled = not self._mode
        state.inference = self._mode

    def __exit__(self, *exc):
        state.enabled, state.inference = self._prev
        return False
