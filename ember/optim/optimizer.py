"""Optimizer: the base class every optimizer shares, as torch.optim.Optimizer.

An optimizer holds ``param_groups`` (a list of dicts: ``'params'`` plus that
group's options, missing ones filled from ``defaults``) and ``state`` (a
``defaultdict(dict)`` keyed by parameter).  ``state_dict()`` /
``load_state_dict()`` use torch's format: state keyed by the parameter's
integer index in group order, ``'params'`` as index lists, state tensors as
Ember tensors (``'step'`` a float32 0-d tensor), so a torch optimizer's
state dict (converted, or even as torch tensors) loads here.

Subclasses update parameters on the raw arrays in place, computing with
the parameters' array namespace (``xp = ember.backends.namespace(d)``) so
that a step runs on whatever device the parameters live on, and keeping the
state there too; nothing in a step is recorded by autograd.  A subclass's
``step`` reads::

    loss = self._eval_closure(closure)
    for group in self.param_groups:
        ...                                  # the group's hyper-parameters
        for d, g, st in self._params_with_grad(group):
            ...                              # the update formula, in place on d
    return loss

with the state made by ``_init_state`` (a 'step' counter and the zero
buffers named in ``_state_buffers``) and the constructor's checks done by
``_check_hparams``.  The update fragments the optimizers share (``_lerp_``,
``_ema_sq_``: the generic optimizer kernels', and ``_adam_moments_`` at the
bottom) are written with ``out=`` so a step makes few temporaries.
"""
import functools
import warnings
from collections import OrderedDict, defaultdict
from copy import deepcopy
from itertools import chain, count

import numpy as np

from .._tensor import Tensor

from .._tensor_base import _wrap
from .._dtype import float32 as _float32
from ..autograd.grad_mode import enable_grad
from ..profiler import _profile as _prof
from ..backends import namespace, writeable
from ..backends.generic.optim import lerp_ as _lerp_, ema_sq_ as _ema_sq_  # (torch's update fragments, shared with the Adam kernel)

__all__ = ["Optimizer", "required", "register_optimizer_step_pre_hook",
           "register_optimizer_step_post_hook"]


class _RequiredParameter:
    """Singleton marking a default that every param group must set."""

    def __repr__(self):
        return "<required parameter>"


required = _RequiredParameter()

# Hooks run around every optimizer's step (torch.optim.optimizer's globals).
_global_optimizer_pre_hooks = OrderedDict()
_global_optimizer_post_hooks = OrderedDict()


class _RemovableHandle:
    """Handle returned by the register_*_hook methods; ``remove()`` drops the hook."""

    _ids = count()   # (next() on it is one atomic step: threads never share an id)

    def __init__(self, hooks_dict):
        self._hooks = hooks_dict
        self.id = next(_RemovableHandle._ids)

    def remove(self):
        self._hooks.pop(self.id, None)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.remove()


def _register(hooks, hook, prepend=False):
    handle = _RemovableHandle(hooks)
    hooks[handle.id] = hook
    if prepend:
        hooks.move_to_end(handle.id, last=False)
    return handle


def register_optimizer_step_pre_hook(hook):
    """Register ``hook(optimizer, args, kwargs)`` to run before every optimizer's step."""
    return _register(_global_optimizer_pre_hooks, hook)


def register_optimizer_step_post_hook(hook):
    """Register ``hook(optimizer, args, kwargs)`` to run after every optimizer's step."""
    return _register(_global_optimizer_post_hooks, hook)


def _with_step_hooks(step):
    """Wrap a subclass's ``step`` so the step pre/post hooks run around it.

    Without hooks the wrapper only adds one call.  ``_in_step`` keeps hooks
    from running twice when a subclass's step calls ``super().step()``.
    """

    @functools.wraps(step)
    def wrapper(self, *args, **kwargs):
        if _prof._current is not None and not self.__dict__.get("_in_profiled_step"):
            return _profiled(wrapper, self, "step", args, kwargs)
        pre = self.__dict__.get("_optimizer_step_pre_hooks")
        post = self.__dict__.get("_optimizer_step_post_hooks")
        if self.__dict__.get("_in_step") or not (pre or post or _global_optimizer_pre_hooks
                                                 or _global_optimizer_post_hooks):
            return step(self, *args, **kwargs)
        self._in_step = True
        try:
            for hook in list(chain(_global_optimizer_pre_hooks.values(), (pre or {}).values())):
                result = hook(self, args, kwargs)
                if result is not None:
                    if isinstance(result, tuple) and len(result) == 2:
                        args, kwargs = result
                    else:
                        raise RuntimeError(f"{step} must return None or a tuple of "
                                           f"(new_args, new_kwargs), but got {result}.")
            out = step(self, *args, **kwargs)
            for hook in list(chain((post or {}).values(), _global_optimizer_post_hooks.values())):
                hook(self, args, kwargs)
            return out
        finally:
            self._in_step = False

    wrapper._ember_hooked = True
    return wrapper


def _profiled(method, self, name, args, kwargs):
    """``method`` (a step, or zero_grad) labelled for a recording profiler as
    torch labels it: ``Optimizer.step#SGD.step`` (once, even when a
    subclass's step calls ``super().step()``)."""
    flag = "_in_profiled_" + name
    self.__dict__[flag] = True
    try:
        cls = type(self).__name__
        with _prof.record_function(f"Optimizer.{name}#{cls}.{name}"):
            return method(self, *args, **kwargs)
    finally:
        self.__dict__.pop(flag, None)     # (nothing left behind to pickle or copy)


def _typename(obj):
    return obj.type() if isinstance(obj, Tensor) else type(obj).__name__


def _is_foreign_tensor(value):
    """A torch (or other framework's) tensor: it converts to an Ember tensor on load."""
    return (not isinstance(value, Tensor) and hasattr(value, "detach") and hasattr(value, "numpy")
            and hasattr(value, "dtype"))


def _to_ember(value):
    """A foreign tensor as an Ember CPU tensor (a copy; the caller moves it on)."""
    return _wrap(np.array(value.detach().cpu().numpy()))


class Optimizer:
    """Base class for all optimizers.

    Args:
        params: an iterable of tensors, of ``(name, tensor)`` pairs, or of
            dicts (parameter groups, each with its own options).
        defaults: option values for groups that do not set them.
    """

    # Subclasses list the group options that __setstate__ fills in for state
    # dicts saved by older versions, and the per-parameter state entries that
    # must be float32 0-d tensors (torch keeps 'step' that way).
    _group_setdefaults = {}
    _scalar_state_keys = ("step",)
    # Names of the zero buffers (shaped like the parameter) that the default
    # ``_init_state`` makes beside 'step'.
    _state_buffers = ()
    # Whether the update is right for complex parameters as it stands: true for updates
    # linear in the gradient (SGD); torch runs the others on the parts as reals
    # (view_as_real), which Ember's do not yet, so they refuse complex parameters.
    _complex_ok = False

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        step = cls.__dict__.get("step")
        if step is not None and not getattr(step, "_ember_hooked", False):
            cls.step = _with_step_hooks(step)

    def __init__(self, params, defaults):
        self.defaults = defaults
        self._optimizer_step_pre_hooks = OrderedDict()
        self._optimizer_step_post_hooks = OrderedDict()
        self._optimizer_state_dict_pre_hooks = OrderedDict()
        self._optimizer_state_dict_post_hooks = OrderedDict()
        self._optimizer_load_state_dict_pre_hooks = OrderedDict()
        self._optimizer_load_state_dict_post_hooks = OrderedDict()
        if isinstance(params, Tensor):
            raise TypeError("params argument given to the optimizer should be an iterable of "
                            "Tensors or dicts, but got " + _typename(params))
        self.state = defaultdict(dict)
        self.param_groups = []
        param_groups = list(params)
        if len(param_groups) == 0:
            raise ValueError("optimizer got an empty parameter list")
        if not isinstance(param_groups[0], dict):
            param_groups = [{"params": param_groups}]
        for group in param_groups:
            self.add_param_group(group)

    # ---- pickling / copying -------------------------------------------------------
    def __getstate__(self):
        return {"defaults": self.defaults, "state": self.state, "param_groups": self.param_groups}

    def __setstate__(self, state):
        self.__dict__.update(state)
        for name in ("_optimizer_step_pre_hooks", "_optimizer_step_post_hooks",
                     "_optimizer_state_dict_pre_hooks", "_optimizer_state_dict_post_hooks",
                     "_optimizer_load_state_dict_pre_hooks", "_optimizer_load_state_dict_post_hooks"):
            if name not in self.__dict__:
                setattr(self, name, OrderedDict())
        self.defaults.setdefault("differentiable", False)
        for group in self.param_groups:
            for k, v in self._group_setdefaults.items():
                group.setdefault(k, v)
            # Old state dicts stored 'step' (and NAdam's 'mu_product') as numbers.
            for p in group["params"]:
                st = self.state.get(p)
                if st:
                    for key in self._scalar_state_keys:
                        if key in st and not isinstance(st[key], Tensor):
                            st[key] = _new_scalar(p._data, float(st[key]))

    def __repr__(self):
        s = self.__class__.__name__ + " ("
        for i, group in enumerate(self.param_groups):
            s += f"\nParameter Group {i}\n"
            for key in sorted(group.keys()):
                if key != "params":
                    s += f"    {key}: {group[key]}\n"
        return s + ")"

    # ---- groups -------------------------------------------------------------------
    def add_param_group(self, param_group):
        """Add a parameter group (a dict with ``'params'`` and optional options)."""
        if not isinstance(param_group, dict):
            raise TypeError(f"param_group must be a dict, but got {type(param_group)}")
        params = param_group["params"]
        if isinstance(params, Tensor):
            params = [params]
        elif isinstance(params, set):
            raise TypeError("optimizer parameters need to be organized in ordered collections, "
                            "but the ordering of tensors in sets will change between runs. "
                            "Please use a list instead.")
        else:
            params = list(params)
        tensors, names = [], []
        for p in params:
            if isinstance(p, tuple):
                names.append(p[0])
                tensors.append(p[1])
            else:
                tensors.append(p)
        param_group["params"] = tensors
        if names:
            if len(names) != len(tensors):
                raise ValueError("all optimizer params should be with/without names. "
                                 "Some param names are missing")
            param_group["param_names"] = names
        for p in tensors:
            if not isinstance(p, Tensor):
                raise TypeError("optimizer can only optimize Tensors, but one of the params is "
                                + _typename(p))
            if not self.defaults.get("differentiable", None) and not (p.is_leaf or p.retains_grad):
                raise ValueError("can't optimize a non-leaf Tensor")
        for name, default in self.defaults.items():
            if default is required and name not in param_group:
                raise ValueError("parameter group didn't specify a value of required "
                                 f"optimization parameter {name}")
            param_group.setdefault(name, default)
        if len(tensors) != len(set(tensors)):
            warnings.warn("optimizer contains a parameter group with duplicate parameters; "
                          "in future, this will cause an error; see "
                          "github.com/pytorch/pytorch/issues/40967 for more information",
                          stacklevel=3)
        seen = set()
        for group in self.param_groups:
            seen.update(group["params"])
            if ("param_names" in param_group) != ("param_names" in group):
                which = "with names" if "param_names" in param_group else "without names"
                raise ValueError("all optimizer param groups should be with/without names. "
                                 f"cannot add param group {which} to the optimizer")
        if not seen.isdisjoint(tensors):
            raise ValueError("some parameters appear in more than one parameter group")
        self.param_groups.append(param_group)

    # ---- gradients and stepping ---------------------------------------------------
    def zero_grad(self, set_to_none=True):
        """Reset every parameter's ``.grad``: to None (default) or to zeros in place."""
        if _prof._current is not None and not self.__dict__.get("_in_profiled_zero_grad"):
            return _profiled(Optimizer.zero_grad, self, "zero_grad", (set_to_none,), {})
        for group in self.param_groups:
            for p in group["params"]:
                g = p._grad     # (the .grad property's field: no call per parameter)
                if g is None:
                    continue
                if set_to_none:
                    p._grad = None  # (what the setter does with None)
                    continue
                if g.grad_fn is not None:
                    g.detach_()
                else:
                    g.requires_grad_(False)
                if writeable(g._data):
                    g._data.fill(0)
                    g._vc[0] += 1
                else:  # e.g. a broadcast view assigned by the user
                    p.grad = _wrap(namespace(g._data).zeros(g._data.shape, dtype=g._data.dtype))

    def step(self, closure=None):
        """Perform one optimization step; ``closure`` re-evaluates the loss."""
        raise NotImplementedError

    # ---- the frame of a subclass's step -------------------------------------------
    @staticmethod
    def _eval_closure(closure):
        """The loss ``closure()`` returns, evaluated with grad enabled (None without one)."""
        if closure is None:
            return None
        with enable_grad():
            return closure()

    def _init_state(self, st, d, group):
        """Fill the empty state dict ``st`` of a parameter (array ``d``) before its
        first update: a 'step' counter, then a zero buffer per ``_state_buffers`` name."""
        st["step"] = _new_step(d, group)
        for name in self._state_buffers:
            st[name] = _new_state(d)

    def _params_with_grad(self, group, stateful=True):
        """Yield ``(d, g, st)`` for each parameter of ``group`` that has a gradient:
        ``d`` its array (to update in place), ``g`` the gradient the update
        formula uses, ``st`` its state dict (filled by ``_init_state`` when
        empty; None when not ``stateful``, so that no empty entry is made).

        ``g`` is the gradient's array, negated if ``maximize``, plus
        ``weight_decay * d`` (L2); with either it is a fresh temporary the
        loop may overwrite.  With ``decoupled_weight_decay`` the decay scales
        ``d`` in place instead (AdamW's ``d *= 1 - lr * weight_decay``).
        When the loop body has run for a parameter, its version counter is
        bumped, as after any in-place change.
        """
        maximize = group.get("maximize", False)
        wd = group.get("weight_decay", 0)
        decay = None
        if wd != 0 and group.get("decoupled_weight_decay"):
            decay, wd = 1 - _scalar(group["lr"]) * wd, 0
        prepare = maximize or wd != 0
        state = self.state if stateful else None
        init_state = self._init_state
        for p in group["params"]:
            grad = p._grad      # (the .grad property's field: no call per parameter)
            if grad is None:
                continue
            d = p._data
            if d.dtype.kind == "c" and not self._complex_ok:
                raise NotImplementedError(f"{type(self).__name__}: complex parameters are not "
                                          "supported by Ember's optimizer (SGD takes them)")
            st = None
            if state is not None:
                st = state[p]
                if not st:
                    init_state(st, d, group)
            g = grad._data
            if decay is not None:
                d *= decay
            if prepare:
                # A fresh array, never p.grad itself.  ``out=`` because a ufunc
                # without it returns a NumPy scalar, not an array, for 0-d inputs.
                xp = namespace(d)
                if wd != 0:
                    wg = xp.multiply(d, wd, out=xp.empty_like(d))
                    if maximize:
                        xp.subtract(wg, g, out=wg)
                    else:
                        xp.add(wg, g, out=wg)
                    g = wg
                else:
                    g = xp.negative(g, out=xp.empty_like(d))
            yield d, g, st
            p._vc[0] += 1

    # ---- hooks --------------------------------------------------------------------
    def register_step_pre_hook(self, hook):
        """``hook(optimizer, args, kwargs) -> None or (new_args, new_kwargs)`` runs before step."""
        return _register(self._optimizer_step_pre_hooks, hook)

    def register_step_post_hook(self, hook):
        """``hook(optimizer, args, kwargs)`` runs after step."""
        return _register(self._optimizer_step_post_hooks, hook)

    def register_state_dict_pre_hook(self, hook, prepend=False):
        return _register(self._optimizer_state_dict_pre_hooks, hook, prepend)

    def register_state_dict_post_hook(self, hook, prepend=False):
        return _register(self._optimizer_state_dict_post_hooks, hook, prepend)

    def register_load_state_dict_pre_hook(self, hook, prepend=False):
        return _register(self._optimizer_load_state_dict_pre_hooks, hook, prepend)

    def register_load_state_dict_post_hook(self, hook, prepend=False):
        return _register(self._optimizer_load_state_dict_post_hooks, hook, prepend)

    # ---- state dict ---------------------------------------------------------------
    def state_dict(self):
        """``{'state': {index: {...}}, 'param_groups': [{..., 'params': [indices]}]}``.

        State tensors are the optimizer's own (not copies), as in torch.
        """
        for hook in self._optimizer_state_dict_pre_hooks.values():
            hook(self)
        index = {}
        packed_groups = []
        start = 0
        for group in self.param_groups:
            packed = {k: v for k, v in group.items() if k != "params"}
            for i, p in enumerate(group["params"], start):
                index.setdefault(id(p), i)
            packed["params"] = [index[id(p)] for p in group["params"]]
            start += len(packed["params"])
            packed_groups.append(packed)
        packed_state = {(index[id(k)] if isinstance(k, Tensor) else k): v
                        for k, v in self.state.items()}
        sd = {"state": packed_state, "param_groups": packed_groups}
        for hook in self._optimizer_state_dict_post_hooks.values():
            result = hook(self, sd)
            if result is not None:
                sd = result
        return sd

    @staticmethod
    def _process_value_according_to_param_policy(param, value, param_id, param_groups, key=None):
        # State moves to the parameter's device, where the steps compute with
        # it (state saved on, or converted to, the CPU included); floating
        # state also takes the parameter's dtype.  'step' stays as it was
        # saved, as in torch, unless its group is capturable or fused (then
        # float32 on the parameter's device).
        if _is_foreign_tensor(value):
            value = _to_ember(value)
        if key == "step":
            group = next((g for g in param_groups if param_id in g["params"]), {})
            if group.get("capturable") or group.get("fused"):
                return value.to(dtype=_float32, device=param.device)
            return value
        if not param.is_floating_point():
            return value.to(device=param.device)
        return value.to(dtype=param.dtype, device=param.device)

    def load_state_dict(self, state_dict):
        """Load a state dict from ``state_dict()`` (Ember's or torch's format)."""
        state_dict = state_dict.copy()
        for hook in self._optimizer_load_state_dict_pre_hooks.values():
            result = hook(self, state_dict)
            if result is not None:
                state_dict = result
        groups = self.param_groups
        saved_groups = deepcopy(state_dict["param_groups"])
        if len(groups) != len(saved_groups):
            raise ValueError("loaded state dict has a different number of parameter groups")
        if any(len(g["params"]) != len(s["params"]) for g, s in zip(groups, saved_groups)):
            raise ValueError("loaded state dict contains a parameter group that doesn't match "
                             "the size of optimizer's group")
        id_map = dict(zip(chain.from_iterable(g["params"] for g in saved_groups),
                          chain.from_iterable(g["params"] for g in groups)))

        def cast(param, value, param_id, key=None):
            if isinstance(value, Tensor) or _is_foreign_tensor(value):
                return self._process_value_according_to_param_policy(
                    param, value, param_id, state_dict["param_groups"], key)
            if isinstance(value, dict):
                return {k: cast(param, v, param_id, k) for k, v in value.items()}
            if isinstance(value, (list, tuple)):
                return type(value)(cast(param, v, param_id) for v in value)
            return value

        state = defaultdict(dict)
        for k, v in state_dict["state"].items():
            if k in id_map:
                param = id_map[k]
                state[param] = cast(param, v, k)
            else:
                state[k] = v
        new_groups = []
        for group, saved in zip(groups, saved_groups):
            saved["params"] = group["params"]
            if "param_names" in group and "param_names" not in saved:
                saved["param_names"] = group["param_names"]
            for k, v in saved.items():  # foreign tensors (a tensor lr) become Ember tensors
                if _is_foreign_tensor(v):
                    saved[k] = _to_ember(v)
            new_groups.append(saved)
        self.__setstate__({"state": state, "param_groups": new_groups})
        for hook in self._optimizer_load_state_dict_post_hooks.values():
            hook(self)


# ---- helpers shared by the optimizers ---------------------------------------------------
# Each works on arrays in place and makes its state on the parameter's device.
# The update fragments take the arrays' namespace ``xp`` from the caller, which
# has looked it up once for the whole update; ``tmp`` is a scratch array of the
# parameter's shape and dtype, reused across the fragments of one update.

def _scalar(x):
    """A hyper-parameter as a Python number (torch accepts 1-element tensor lrs)."""
    return x if type(x) is float else float(x)


def _new_state(d):
    """A zero tensor shaped like array ``d`` (a fresh state buffer)."""
    return _wrap(namespace(d).zeros_like(d))


def _new_scalar(d, value):
    """A float32 0-d tensor holding ``value``, on the device of array ``d``."""
    return _wrap(namespace(d).asarray(value, dtype=np.float32))


def _new_step(d, group, value=0.0):
    """A host-side counter of parameter array ``d`` ('step', NAdam's
    'mu_product'): a float32 0-d tensor on the CPU, where torch keeps it
    unless the group is ``capturable`` or ``fused`` (then on ``d``'s device).
    The update reads it as a Python float every step: on the CPU that read
    costs no device synchronization."""
    if group.get("capturable") or group.get("fused"):
        return _new_scalar(d, value)
    return _wrap(np.asarray(value, dtype=np.float32))


def _incr(step_t):
    """Add one to a step counter in place and return the new count as a float."""
    a = step_t._data
    # fill() rounds like torch's float32 ``step += 1`` and is much cheaper
    # than an in-place ufunc on a 0-d array.
    a.fill(float(a) + 1.0)
    return float(a)


def _adam_moments_(xp, st, g, beta1, beta2, tmp):
    """Adam's per-step state update, in place: count the step, lerp
    ``exp_avg`` toward ``g`` by ``1 - beta1`` and ``exp_avg_sq`` toward
    ``g^2`` by ``1 - beta2``.  Returns ``(t, m, v)``: the new step count and
    the two moment arrays."""
    m = st["exp_avg"]._data
    v = st["exp_avg_sq"]._data
    _lerp_(xp, m, g, 1 - beta1, tmp)
    _ema_sq_(xp, v, g, beta2, tmp)
    # _incr's body, inlined: one Python call less per parameter.
    t = st["step"]._data
    t.fill(float(t) + 1.0)
    return float(t), m, v


def _check_impl_flags(differentiable=False, foreach=None, fused=None):
    """torch's implementation switches: foreach/fused pick a kernel (Ember has one),
    differentiable=True (autograd through the update) is not supported."""
    if fused and differentiable:
        raise RuntimeError("`fused` does not support `differentiable`")
    if fused and foreach:
        raise RuntimeError("`fused` and `foreach` cannot be `True` together.")
    if differentiable:
        raise NotImplementedError("differentiable=True (autograd through the optimizer step) "
                                  "is not supported by Ember's optimizers")


# How torch's messages name a hyper-parameter, and its bound beside ">= 0".
# Any other name reads "<name> value" and has no other bound.
_HPARAM_RULES = {
    "lr": ("learning rate", None),
    "eps": ("epsilon value", None),
    "rho": ("rho value", lambda x: x <= 1.0),
    "betas": ("beta parameter at index {}", lambda x: x < 1.0),  # each of betas[0], betas[1]
}


def _check_hparams(lr, nan_ok=False, **hparams):
    """torch's constructor checks, in torch's order and wording: ``lr`` (a
    number or a 1-element tensor), then each keyword in the order given; each
    value must be ``>= 0`` and within its ``_HPARAM_RULES`` bound, else
    ValueError("Invalid <label>: <value>").

    ``nan_ok``: SGD tests ``x < 0`` where the others test ``not 0 <= x``, so
    there (as in torch) a NaN passes.
    """
    if hasattr(lr, "numel") and lr.numel() != 1:
        raise ValueError("Tensor lr must be 1-element")
    checks = []
    for name, value in (("lr", lr), *hparams.items()):
        label, bound = _HPARAM_RULES.get(name, (f"{name} value", None))
        if name == "betas":
            checks += [(label.format(i), value[i], bound) for i in (0, 1)]
        else:
            checks.append((label, value, bound))
    for label, value, bound in checks:
        ok = not value < 0.0 if nan_ok else 0.0 <= value
        if not (ok and (bound is None or bound(value))):
            raise ValueError(f"Invalid {label}: {value}")
