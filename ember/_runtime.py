"""Process-wide switches torch programs set up front: ``compile`` and the
deterministic-algorithms flag.

``ember.compile`` is torch's ``torch.compile`` with ``backend="eager"``:
it hands back the same callable, run exactly as written.  Ember has no
graph compiler; its speed comes from the fused kernels each op calls.
"""
import warnings

_MODES = ("default", "lite", "reduce-overhead", "max-autotune-no-cudagraphs", "max-autotune")
_BACKENDS = ("inductor", "eager", "aot_eager", "cudagraphs", "openxla", "tvm")


def compile(model=None, *, fullgraph=False, dynamic=None, backend="inductor", mode=None,
            options=None, name=None, disable=False, recompile_limit=None,
            isolate_recompiles=False, shapes_spec=None):
    """Returns ``model`` itself (a module or function), unchanged: what torch's
    ``torch.compile(model, backend="eager")`` runs, without a graph capture.
    Called without ``model``, returns a decorator, as torch's does.  The
    arguments are checked as torch checks them and otherwise ignored."""
    if mode is not None and options is not None:
        raise RuntimeError("Either mode or options can be specified, but both can't be "
                           "specified at the same time.")
    if mode is not None and mode not in _MODES:
        raise RuntimeError(f"Unrecognized mode={mode}, should be one of: {', '.join(_MODES)}")
    if isinstance(backend, str) and backend not in _BACKENDS:
        raise RuntimeError(f"Invalid backend: '{backend}', see `torch._dynamo.list_backends()` "
                           "for available backends.")
    if model is None:
        def decorate(fn):
            return compile(fn, fullgraph=fullgraph, dynamic=dynamic, backend=backend, mode=mode,
                           options=options, disable=disable)
        return decorate
    if not callable(model):
        raise AssertionError(f"A callable function is expected, but {type(model)} is provided.")
    return model


# ---- deterministic algorithms -----------------------------------------------------------
# Ember's CPU ops are deterministic already (its threads split work into
# fixed ranges, and reductions add in a fixed order), so the flag changes no
# result; it is kept so programs that set and read it run as under torch.

class _Deterministic:
    enabled = False
    warn_only = False


def use_deterministic_algorithms(mode, *, warn_only=False):
    """Ask for deterministic algorithms (torch.use_deterministic_algorithms)."""
    if not isinstance(mode, bool):
        raise TypeError(f"_set_deterministic_algorithms(): argument 'mode' (position 1) must be "
                        f"bool, not {type(mode).__name__}")
    if not isinstance(warn_only, bool):
        raise TypeError(f"_set_deterministic_algorithms(): argument 'warn_only' must be bool, "
                        f"not {type(warn_only).__name__}")
    _Deterministic.enabled = mode
    _Deterministic.warn_only = warn_only if mode else False


def are_deterministic_algorithms_enabled():
    return _Deterministic.enabled


def is_deterministic_algorithms_warn_only_enabled():
    return _Deterministic.warn_only


def set_deterministic_debug_mode(debug_mode):
    """0/"default": off; 1/"warn": on, warn only; 2/"error": on."""
    names = {"default": 0, "warn": 1, "error": 2}
    if isinstance(debug_mode, str):
        if debug_mode not in names:
            raise RuntimeError("invalid value of debug_mode, expected one of `default`, `warn`, "
                               f"`error`, but got {debug_mode}")
        debug_mode = names[debug_mode]
    if debug_mode not in (0, 1, 2):
        raise RuntimeError("invalid value of debug_mode, expected 0, 1, or 2, but got "
                           f"{debug_mode}")
    use_deterministic_algorithms(debug_mode != 0, warn_only=debug_mode == 1)


def get_deterministic_debug_mode():
    if not _Deterministic.enabled:
        return 0
    return 1 if _Deterministic.warn_only else 2


del warnings
