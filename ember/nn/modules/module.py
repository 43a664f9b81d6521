"""Module: the base class of every layer and model (torch.nn.Module).

Assigning a ``Parameter``, a ``Module`` or a ``Buffer`` to an attribute
registers it (in ``_parameters``, ``_modules``, ``_buffers``), which is what
``parameters()``, ``state_dict()``, ``to()``, ``train()`` and ``repr`` walk.
Registration, naming, the state-dict format and the error messages follow
torch, so code and checkpoints written for torch work unchanged.
"""
import functools
import itertools
import threading
import weakref
from collections import OrderedDict, namedtuple

import numpy as np

from ... import _dtype as D
from ..._tensor import Tensor
from ..._tensor_base import _wrap, _check_device, _backend_for, Size, device as _device_cls
from ...autograd.grad_mode import state as _gm
from ...backends import backend_of, is_array
from ..parameter import Parameter, Buffer
from ..._bfloat16 import is_float as _isf

__all__ = ["Module", "register_module_forward_pre_hook", "register_module_forward_hook",
           "register_module_full_backward_hook", "register_module_full_backward_pre_hook"]


def _typename(obj):
    if isinstance(obj, Tensor):
        return obj.type()
    t = type(obj)
    mod = t.__module__
    if mod in ("builtins", "__builtin__", None):
        return t.__qualname__
    return f"{mod}.{t.__qualname__}"


def _addindent(s, n):
    """Indent every line of ``s`` but the first by ``n`` spaces."""
    lines = s.split("\n")
    if len(lines) == 1:
        return s
    first = lines.pop(0)
    return first + "\n" + "\n".join(" " * n + line for line in lines)


class _IncompatibleKeys(namedtuple("IncompatibleKeys", ["missing_keys", "unexpected_keys"])):
    """What ``load_state_dict`` returns: the keys it could not match."""

    __slots__ = ()

    def __repr__(self):
        if not self.missing_keys and not self.unexpected_keys:
            return "<All keys matched successfully>"
        return super().__repr__()

    __str__ = __repr__


class RemovableHandle:
    """Returned by ``register_*_hook``: ``handle.remove()`` unregisters the hook
    (also usable as a context manager)."""

    _ids = itertools.count()   # (next() on it is one atomic step: threads never share an id)

    def __init__(self, hooks_dict, *extra_dicts):
        self.hooks_dict_ref = weakref.ref(hooks_dict)
        self.id = next(RemovableHandle._ids)
        self.extra_dict_refs = tuple(weakref.ref(d) for d in extra_dicts)

    def remove(self):
        for ref in (self.hooks_dict_ref,) + self.extra_dict_refs:
            d = ref()
            if d is not None and self.id in d:
                del d[self.id]

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.remove()


# ---- global hooks (apply to every module) ---------------------------------------------

_global_forward_pre_hooks = OrderedDict()
_global_forward_hooks = OrderedDict()
_global_forward_hooks_always_called = OrderedDict()
_global_backward_hooks = OrderedDict()
_global_backward_pre_hooks = OrderedDict()


def _any_global_hooks():
    return bool(_global_forward_pre_hooks or _global_forward_hooks or _global_backward_hooks
                or _global_backward_pre_hooks)


class _GlobalHookFlag:
    """One cheap flag read on every module call instead of four dict checks."""
    on = False


# The global hooks are process-wide, as torch's: registered in one thread,
# they run for modules called in every thread.  Changing a dict and
# recomputing the flag happen under one lock, so two threads registering and
# removing at once cannot leave the flag off while a hook is registered.
_global_hooks_lock = threading.Lock()


def _refresh_global_flag():
    _GlobalHookFlag.on = _any_global_hooks()


class _GlobalHandle(RemovableHandle):
    def remove(self):
        with _global_hooks_lock:
            super().remove()
            _refresh_global_flag()


def _add_global_hook(hooks, hook, handle, always_called=False):
    with _global_hooks_lock:
        hooks[handle.id] = hook
        if always_called:
            _global_forward_hooks_always_called[handle.id] = True
        _refresh_global_flag()
    return handle


def register_module_forward_pre_hook(hook):
    """``hook(module, args)`` runs before every module's forward."""
    return _add_global_hook(_global_forward_pre_hooks, hook,
                            _GlobalHandle(_global_forward_pre_hooks))


def register_module_forward_hook(hook, *, with_kwargs=False, always_call=False):
    """``hook(module, args, output)`` runs after every module's forward."""
    return _add_global_hook(_global_forward_hooks, hook,
                            _GlobalHandle(_global_forward_hooks,
                                          _global_forward_hooks_always_called), always_call)


def register_module_full_backward_hook(hook):
    """``hook(module, grad_input, grad_output)`` for every module."""
    return _add_global_hook(_global_backward_hooks, hook, _GlobalHandle(_global_backward_hooks))


def register_module_full_backward_pre_hook(hook):
    """``hook(module, grad_output)`` for every module."""
    return _add_global_hook(_global_backward_pre_hooks, hook,
                            _GlobalHandle(_global_backward_pre_hooks))


def _forward_unimplemented(self, *input):
    raise NotImplementedError(f'Module [{type(self).__name__}] is missing the required "forward" function')


_HOOK_DICTS = ("_backward_pre_hooks", "_backward_hooks", "_forward_hooks",
               "_forward_hooks_with_kwargs", "_forward_hooks_always_called",
               "_forward_pre_hooks", "_forward_pre_hooks_with_kwargs", "_state_dict_hooks",
               "_state_dict_pre_hooks", "_load_state_dict_pre_hooks",
               "_load_state_dict_post_hooks")


class Module:
    """Base class for all neural network modules.

    Subclasses call ``super().__init__()`` first, assign parameters and
    submodules as attributes, and define ``forward``; calling the module runs
    its hooks and ``forward``.
    """

    dump_patches = False
    _version = 1
    training: bool
    call_super_init = False
    _compiled_call_impl = None

    def __init__(self, *args, **kwargs):
        if self.call_super_init is False and bool(kwargs):
            raise TypeError(f"{type(self).__name__}.__init__() got an unexpected keyword argument "
                            f"'{next(iter(kwargs))}'")
        if self.call_super_init is False and bool(args):
            raise TypeError(f"{type(self).__name__}.__init__() takes 1 positional argument but "
                            f"{len(args) + 1} were given")
        d = self.__dict__
        d["training"] = True
        d["_parameters"] = {}
        d["_buffers"] = {}
        d["_non_persistent_buffers_set"] = set()
        d["_is_full_backward_hook"] = None
        for name in _HOOK_DICTS:
            d[name] = OrderedDict()
        d["_modules"] = {}

    forward = _forward_unimplemented

    # ---- registration -----------------------------------------------------------------
    def register_buffer(self, name, tensor, persistent=True):
        """Add a tensor that is state but not a parameter (saved in state_dict
        unless ``persistent=False``); ``None`` reserves the name."""
        if "_buffers" not in self.__dict__:
            raise AttributeError("cannot assign buffer before Module.__init__() call")
        if not isinstance(name, str):
            raise TypeError(f"buffer name should be a string. Got {_typename(name)}")
        if "." in name:
            raise KeyError('buffer name can\'t contain "."')
        if name == "":
            raise KeyError('buffer name can\'t be empty string ""')
        if hasattr(self, name) and name not in self._buffers:
            raise KeyError(f"attribute '{name}' already exists")
        if tensor is not None and not isinstance(tensor, Tensor):
            raise TypeError(f"cannot assign '{_typename(tensor)}' object to buffer '{name}' "
                            "(torch Tensor or None required)")
        if isinstance(tensor, Buffer):
            tensor = _plain(tensor)
        self._buffers[name] = tensor
        if persistent:
            self._non_persistent_buffers_set.discard(name)
        else:
            self._non_persistent_buffers_set.add(name)

    def register_parameter(self, name, param):
        """Add a Parameter (or ``None``) under ``name``."""
        if "_parameters" not in self.__dict__:
            raise AttributeError("cannot assign parameter before Module.__init__() call")
        if not isinstance(name, str):
            raise TypeError(f"parameter name should be a string. Got {_typename(name)}")
        if "." in name:
            raise KeyError('parameter name can\'t contain "."')
        if name == "":
            raise KeyError('parameter name can\'t be empty string ""')
        if hasattr(self, name) and name not in self._parameters:
            raise KeyError(f"attribute '{name}' already exists")
        if param is None:
            self._parameters[name] = None
            return
        if not isinstance(param, Parameter):
            raise TypeError(f"cannot assign '{_typename(param)}' object to parameter '{name}' "
                            "(torch.nn.Parameter or None required)")
        if param.grad_fn is not None:
            raise ValueError(f"Cannot assign non-leaf Tensor to parameter '{name}'. Model "
                             f"parameters must be created explicitly. To express '{name}' as a "
                             "function of another Tensor, compute the value in the forward() method.")
        self._parameters[name] = param

    def add_module(self, name, module):
        """Add a child module under ``name`` (``None`` reserves the name)."""
        if not isinstance(module, Module) and module is not None:
            raise TypeError(f"{_typename(module)} is not a Module subclass")
        if not isinstance(name, str):
            raise TypeError(f"module name should be a string. Got {_typename(name)}")
        if hasattr(self, name) and name not in self._modules:
            raise KeyError(f"attribute '{name}' already exists")
        if "." in name:
            raise KeyError(f'module name can\'t contain ".", got: {name}')
        if name == "":
            raise KeyError('module name can\'t be empty string ""')
        self._modules[name] = module

    register_module = add_module

    def get_submodule(self, target):
        """The module at dotted path ``target`` ("" is self)."""
        if target == "":
            return self
        mod = self
        for item in target.split("."):
            if not hasattr(mod, item):
                raise AttributeError(mod._get_name() + " has no attribute `" + item + "`")
            mod = getattr(mod, item)
            if not isinstance(mod, Module):
                raise AttributeError("`" + item + "` is not an nn.Module")
        return mod

    def set_submodule(self, target, module, strict=False):
        """Replace (or with ``strict=False`` add) the module at dotted path ``target``."""
        if target == "":
            raise ValueError("Cannot set the submodule without a target name!")
        atoms = target.split(".")
        if not isinstance(module, Module):
            raise ValueError("`module` is not an nn.Module, found " + str(type(module)))
        parent = self.get_submodule(".".join(atoms[:-1]))
        name = atoms[-1]
        if strict and not hasattr(parent, name):
            raise AttributeError(parent._get_name() + " has no attribute `" + name + "`")
        if hasattr(parent, name) and not isinstance(getattr(parent, name), Module):
            raise AttributeError("`" + name + "` is not an nn.Module")
        setattr(parent, name, module)

    def get_parameter(self, target):
        """The Parameter at dotted path ``target``."""
        module_path, _, name = target.rpartition(".")
        mod = self.get_submodule(module_path)
        if not hasattr(mod, name):
            raise AttributeError(mod._get_name() + " has no attribute `" + name + "`")
        param = getattr(mod, name)
        if not isinstance(param, Parameter):
            raise AttributeError("`" + name + "` is not an nn.Parameter")
        return param

    def get_buffer(self, target):
        """The buffer at dotted path ``target``."""
        module_path, _, name = target.rpartition(".")
        mod = self.get_submodule(module_path)
        if not hasattr(mod, name):
            raise AttributeError(mod._get_name() + " has no attribute `" + name + "`")
        if name not in mod._buffers:
            raise AttributeError("`" + name + "` is not a buffer")
        return getattr(mod, name)

    def get_extra_state(self):
        raise RuntimeError("Reached a code path in Module.get_extra_state() that should never be "
                           "called. Please file an issue.")

    def set_extra_state(self, state):
        raise RuntimeError("Reached a code path in Module.set_extra_state() that should never be "
                           "called. Please file an issue.")

    # ---- attribute protocol -----------------------------------------------------------
    def __getattr__(self, name):
        d = self.__dict__
        if "_parameters" in d:
            p = d["_parameters"]
            if name in p:
                return p[name]
        if "_buffers" in d:
            b = d["_buffers"]
            if name in b:
                return b[name]
        if "_modules" in d:
            m = d["_modules"]
            if name in m:
                return m[name]
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")

    def __setattr__(self, name, value):
        d = self.__dict__
        params = d.get("_parameters")
        if isinstance(value, Parameter):
            if params is None:
                raise AttributeError("cannot assign parameters before Module.__init__() call")
            _remove_from(name, d, self._buffers, self._modules, self._non_persistent_buffers_set)
            self.register_parameter(name, value)
            return
        if params is not None and name in params:
            if value is not None:
                raise TypeError(f"cannot assign '{_typename(value)}' as parameter '{name}' "
                                "(torch.nn.Parameter or None expected)")
            self.register_parameter(name, value)
            return
        modules = d.get("_modules")
        if isinstance(value, Module):
            if modules is None:
                raise AttributeError("cannot assign module before Module.__init__() call")
            _remove_from(name, d, self._parameters, self._buffers, self._non_persistent_buffers_set)
            modules[name] = value
            return
        if modules is not None and name in modules:
            if value is not None:
                raise TypeError(f"cannot assign '{_typename(value)}' as child module '{name}' "
                                "(torch.nn.Module or None expected)")
            modules[name] = value
            return
        buffers = d.get("_buffers")
        if isinstance(value, Buffer) or (buffers is not None and name in buffers):
            if value is not None and not isinstance(value, Tensor):
                raise TypeError(f"cannot assign '{_typename(value)}' as buffer '{name}' "
                                "(torch.nn.Buffer, torch.Tensor or None expected)")
            if isinstance(value, Buffer):
                persistent = value.persistent
            else:
                persistent = name not in self._non_persistent_buffers_set
            self.register_buffer(name, value, persistent)
            return
        object.__setattr__(self, name, value)

    def __delattr__(self, name):
        d = self.__dict__
        if name in d["_parameters"]:
            del d["_parameters"][name]
        elif name in d["_buffers"]:
            del d["_buffers"][name]
            d["_non_persistent_buffers_set"].discard(name)
        elif name in d["_modules"]:
            del d["_modules"][name]
        else:
            object.__delattr__(self, name)

    def __dir__(self):
        keys = (dir(type(self)) + list(self.__dict__) + list(self._parameters)
                + list(self._modules) + list(self._buffers))
        return sorted(k for k in keys if not k[0].isdigit())

    def __getstate__(self):
        return self.__dict__.copy()

    def __setstate__(self, state):
        self.__dict__.update(state)
        d = self.__dict__
        for name in _HOOK_DICTS:
            d.setdefault(name, OrderedDict())
        d.setdefault("_non_persistent_buffers_set", set())
        d.setdefault("_is_full_backward_hook", None)

    # ---- iteration --------------------------------------------------------------------
    def _named_members(self, get_members_fn, prefix="", recurse=True, remove_duplicate=True):
        memo = set()
        mods = self.named_modules(prefix=prefix, remove_duplicate=remove_duplicate) \
            if recurse else [(prefix, self)]
        for module_prefix, module in mods:
            for k, v in get_members_fn(module):
                if v is None or (remove_duplicate and id(v) in memo):
                    continue
                if remove_duplicate:
                    memo.add(id(v))
                yield (module_prefix + ("." if module_prefix else "") + k, v)

    def parameters(self, recurse=True):
        """Every parameter (each shared one once), in registration order."""
        for _, p in self.named_parameters(recurse=recurse):
            yield p

    def named_parameters(self, prefix="", recurse=True, remove_duplicate=True):
        """``(dotted_name, Parameter)`` pairs, as torch names them."""
        return self._named_members(lambda m: m._parameters.items(), prefix=prefix,
                                   recurse=recurse, remove_duplicate=remove_duplicate)

    def buffers(self, recurse=True):
        for _, b in self.named_buffers(recurse=recurse):
            yield b

    def named_buffers(self, prefix="", recurse=True, remove_duplicate=True):
        return self._named_members(lambda m: m._buffers.items(), prefix=prefix,
                                   recurse=recurse, remove_duplicate=remove_duplicate)

    def children(self):
        for _, m in self.named_children():
            yield m

    def named_children(self):
        memo = set()
        for name, m in self._modules.items():
            if m is not None and id(m) not in memo:
                memo.add(id(m))
                yield name, m

    def modules(self):
        for _, m in self.named_modules():
            yield m

    def named_modules(self, memo=None, prefix="", remove_duplicate=True):
        """This module and every descendant, depth first, as ``(dotted_name, module)``."""
        if memo is None:
            memo = set()
        if self in memo:
            return
        if remove_duplicate:
            memo.add(self)
        yield prefix, self
        for name, m in self._modules.items():
            if m is None:
                continue
            sub = prefix + ("." if prefix else "") + name
            yield from m.named_modules(memo, sub, remove_duplicate)

    __hash__ = object.__hash__

    # ---- modes and grads --------------------------------------------------------------
    def train(self, mode=True):
        """Set training mode here and in every descendant; returns self."""
        if not isinstance(mode, bool):
            raise ValueError("training mode is expected to be boolean")
        self.training = mode
        for m in self.children():
            m.train(mode)
        return self

    def eval(self):
        return self.train(False)

    def requires_grad_(self, requires_grad=True):
        for p in self.parameters():
            p.requires_grad_(requires_grad)
        return self

    def zero_grad(self, set_to_none=True):
        """Reset every parameter's ``.grad`` (to None by default, as torch 2)."""
        for p in self.parameters():
            if p.grad is not None:
                if set_to_none:
                    p.grad = None
                else:
                    g = p.grad
                    if g.grad_fn is not None:
                        g.detach_()
                    else:
                        g.requires_grad = False
                    g._data[...] = 0
                    g._vc[0] += 1

    def share_memory(self):
        """Move every parameter, gradient and buffer into shared memory in place (see
        ``Tensor.share_memory_``): processes forked afterwards train this very model."""
        return self._apply(lambda t: t.share_memory_())

    def apply(self, fn):
        """Call ``fn(module)`` on every descendant (children first), then on self."""
        for m in self.children():
            m.apply(fn)
        fn(self)
        return self

    # ---- conversion -------------------------------------------------------------------
    def _apply(self, fn, recurse=True):
        """Convert every parameter and buffer with ``fn``; parameters keep their
        identity (their data is swapped) so optimizers holding them still work."""
        if recurse:
            for m in self.children():
                m._apply(fn)
        prev = _gm.enabled
        _gm.enabled = False
        try:
            for key, p in self._parameters.items():
                if p is None:
                    continue
                new = fn(p)
                if new is not p:
                    p._data = new._data
                    p._vc[0] += 1
                if p.grad is not None:
                    g = fn(p.grad)
                    if g is not p.grad:
                        p.grad._data = g._data
            for key, b in self._buffers.items():
                if b is not None:
                    self._buffers[key] = fn(b)
        finally:
            _gm.enabled = prev
        return self

    def to(self, *args, **kwargs):
        """``to(dtype)``, ``to(device)``, ``to(device, dtype)``, ``to(tensor)``:
        floating-point parameters and buffers are cast; integer ones keep
        their dtype.  Parameters keep their identity on a device move too."""
        dtype = kwargs.pop("dtype", None)
        dev = kwargs.pop("device", None)
        kwargs.pop("non_blocking", None)
        kwargs.pop("memory_format", None)
        if kwargs:
            raise TypeError(f"to() received an invalid combination of arguments - got "
                            f"unexpected keyword arguments {sorted(kwargs)}")
        for a in args:
            if isinstance(a, Tensor):
                dtype = a.dtype
            elif isinstance(a, D.dtype):
                dtype = a
            elif isinstance(a, (str, _device_cls, int)) and not isinstance(a, bool):
                dev = a
            elif isinstance(a, bool):
                continue  # non_blocking passed positionally
            elif a is not None:
                dtype = a
        if dev is not None:
            _backend_for(dev)          # (an unknown or unavailable device raises here)
            self._apply(lambda t: t.to(dev))
        if dtype is None:
            return self
        dt = D.to_dtype(dtype)
        if not dt.is_floating_point:
            raise TypeError(f"nn.Module.to only accepts floating point or complex dtypes, but "
                            f"got desired dtype={dt}")
        return self._apply(lambda t: t.to(dt) if t.is_floating_point() else t)

    def cpu(self):
        return self._apply(lambda t: t.cpu())

    def cuda(self, device=None):
        dev = "cuda" if device is None else device if not isinstance(device, int) \
            else f"cuda:{device}"
        _backend_for(dev)
        return self._apply(lambda t: t.to(dev))

    def xpu(self, device=None):
        _check_device("xpu")

    def mps(self, device=None):
        _check_device("mps")

    def type(self, dst_type):
        return self._apply(lambda t: t.type(dst_type))

    def float(self):
        return self._apply(lambda t: t.float() if t.is_floating_point() else t)

    def double(self):
        return self._apply(lambda t: t.double() if t.is_floating_point() else t)

    def half(self):
        return self._apply(lambda t: t.half() if t.is_floating_point() else t)

    def bfloat16(self):
        return self._apply(lambda t: t.bfloat16() if t.is_floating_point() else t)

    def to_empty(self, *, device=None, recurse=True):
        """Parameters and buffers on ``device`` with unspecified values.  Torch
        allocates fresh storage there; a move is a valid such storage (the old
        values are as good as any uninitialised ones)."""
        if device is None:
            return self
        _backend_for(device)          # (an unknown or unavailable device raises here)
        return self._apply(lambda t: t.to(device), recurse)

    # ---- state dict -------------------------------------------------------------------
    def _save_to_state_dict(self, destination, prefix, keep_vars):
        """Put this module's own parameters and persistent buffers into ``destination``."""
        for name, p in self._parameters.items():
            if p is not None:
                destination[prefix + name] = p if keep_vars else p.detach()
        nonpersist = self._non_persistent_buffers_set
        for name, b in self._buffers.items():
            if b is not None and name not in nonpersist:
                destination[prefix + name] = b if keep_vars else b.detach()
        if type(self).get_extra_state is not Module.get_extra_state:
            destination[prefix + "_extra_state"] = self.get_extra_state()

    def state_dict(self, *args, destination=None, prefix="", keep_vars=False):
        """An OrderedDict of every parameter and persistent buffer by dotted name
        (values detached, sharing memory, unless ``keep_vars``)."""
        if args:  # the legacy positional form state_dict(destination, prefix, keep_vars)
            destination = args[0]
            if len(args) > 1:
                prefix = args[1]
            if len(args) > 2:
                keep_vars = args[2]
        if destination is None:
            destination = OrderedDict()
            destination._metadata = OrderedDict()
        meta = getattr(destination, "_metadata", None)
        if meta is not None:
            meta[prefix[:-1]] = {"version": self._version}
        for hook in self._state_dict_pre_hooks.values():
            hook(self, prefix, keep_vars)
        self._save_to_state_dict(destination, prefix, keep_vars)
        for name, m in self._modules.items():
            if m is not None:
                m.state_dict(destination=destination, prefix=prefix + name + ".", keep_vars=keep_vars)
        for hook in self._state_dict_hooks.values():
            result = hook(self, destination, prefix, {"version": self._version})
            if result is not None:
                destination = result
        return destination

    def _load_from_state_dict(self, state_dict, prefix, local_metadata, strict, missing_keys,
                              unexpected_keys, error_msgs):
        """Copy this module's own entries from ``state_dict`` (keys ``prefix+name``),
        recording missing/unexpected keys and errors instead of raising."""
        for hook in self._load_state_dict_pre_hooks.values():
            hook(state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys,
                 error_msgs)
        nonpersist = self._non_persistent_buffers_set
        local = {k: v for k, v in self._buffers.items() if v is not None and k not in nonpersist}
        local.update((k, v) for k, v in self._parameters.items() if v is not None)
        assign = local_metadata.get("assign_to_params_buffers", False)
        for name, param in local.items():
            key = prefix + name
            if key not in state_dict:
                if strict:
                    missing_keys.append(key)
                continue
            value = state_dict[key]
            src = _as_tensor(value)
            if src is None:
                error_msgs.append(f'While copying the parameter named "{key}", expected torch.Tensor '
                                  f"or Tensor-like object from checkpoint but received {type(value)}")
                continue
            # a 1-element 1-d entry loads into a 0-d parameter (old checkpoints)
            if param._data.ndim == 0 and src._data.ndim == 1 and src._data.shape[0] == 1:
                src = _wrap(src._data.reshape(()))
            if src._data.shape != param._data.shape:
                error_msgs.append(f"size mismatch for {key}: copying a param with shape "
                                  f"{Size(src._data.shape)} from checkpoint, the shape in current "
                                  f"model is {Size(param._data.shape)}.")
                continue
            try:
                if assign:
                    if isinstance(param, Parameter):
                        new = Parameter(src, requires_grad=param.requires_grad
                                        and _isf(src._data.dtype))
                        self._parameters[name] = new
                    else:
                        self._buffers[name] = src
                else:
                    _copy_into(param, src)
            except Exception as ex:
                error_msgs.append(f'While copying the parameter named "{key}", whose dimensions in '
                                  f"the model are {param.size()} and whose dimensions in the "
                                  f"checkpoint are {src.size()}, an exception occurred : {ex.args}.")
        extra_key = prefix + "_extra_state"
        has_extra = type(self).set_extra_state is not Module.set_extra_state
        if has_extra:
            if extra_key in state_dict:
                self.set_extra_state(state_dict[extra_key])
            elif strict:
                missing_keys.append(extra_key)
        if strict:
            for key in state_dict.keys():
                if key.startswith(prefix) and not (has_extra and key == extra_key):
                    first = key[len(prefix):].split(".", 1)
                    if len(first) > 1:
                        if first[0] not in self._modules:
                            unexpected_keys.append(key)
                    elif first[0] not in local:
                        unexpected_keys.append(key)

    def load_state_dict(self, state_dict, strict=True, assign=False):
        """Copy parameters and buffers from ``state_dict`` (Ember tensors, NumPy
        arrays or torch tensors).  Returns ``(missing_keys, unexpected_keys)``;
        with ``strict`` any mismatch raises RuntimeError listing them all."""
        from collections.abc import Mapping
        if not isinstance(state_dict, Mapping):
            raise TypeError(f"Expected state_dict to be dict-like, got {type(state_dict)}.")
        missing, unexpected, error_msgs = [], [], []
        metadata = getattr(state_dict, "_metadata", None)
        state_dict = OrderedDict(state_dict)

        def load(module, local_sd, prefix=""):
            meta = {} if metadata is None else dict(metadata.get(prefix[:-1], {}))
            if assign:
                meta["assign_to_params_buffers"] = assign
            module._load_from_state_dict(local_sd, prefix, meta, True, missing, unexpected,
                                         error_msgs)
            for name, child in module._modules.items():
                if child is not None:
                    child_prefix = prefix + name + "."
                    child_sd = {k: v for k, v in local_sd.items() if k.startswith(child_prefix)}
                    load(child, child_sd, child_prefix)
            incompatible = _IncompatibleKeys(missing, unexpected)
            for hook in module._load_state_dict_post_hooks.values():
                out = hook(module, incompatible)
                if out is not None:
                    raise RuntimeError("Hooks registered with ``register_load_state_dict_post_hook`` "
                                       "are not expected to return new values, if incompatible_keys "
                                       "need to be modified, it should be done inplace.")

        prev = _gm.enabled
        _gm.enabled = False
        try:
            load(self, state_dict)
        finally:
            _gm.enabled = prev
        if strict:
            if unexpected:
                error_msgs.insert(0, "Unexpected key(s) in state_dict: {}. ".format(
                    ", ".join(f'"{k}"' for k in unexpected)))
            if missing:
                error_msgs.insert(0, "Missing key(s) in state_dict: {}. ".format(
                    ", ".join(f'"{k}"' for k in missing)))
        if error_msgs:
            raise RuntimeError("Error(s) in loading state_dict for {}:\n\t{}".format(
                type(self).__name__, "\n\t".join(error_msgs)))
        return _IncompatibleKeys(missing, unexpected)

    def register_state_dict_pre_hook(self, hook):
        """``hook(module, prefix, keep_vars)`` runs before ``state_dict`` saves."""
        h = RemovableHandle(self._state_dict_pre_hooks)
        self._state_dict_pre_hooks[h.id] = hook
        return h

    def register_state_dict_post_hook(self, hook):
        """``hook(module, state_dict, prefix, local_metadata)`` after saving."""
        h = RemovableHandle(self._state_dict_hooks)
        self._state_dict_hooks[h.id] = hook
        return h

    _register_state_dict_hook = register_state_dict_post_hook

    def register_load_state_dict_pre_hook(self, hook):
        """``hook(module, state_dict, prefix, local_metadata, strict, missing_keys,
        unexpected_keys, error_msgs)`` before this module loads its entries."""
        return self._register_load_state_dict_pre_hook(functools.partial(hook, self))

    def _register_load_state_dict_pre_hook(self, hook, with_module=False):
        if with_module:
            hook = functools.partial(hook, self)
        h = RemovableHandle(self._load_state_dict_pre_hooks)
        self._load_state_dict_pre_hooks[h.id] = hook
        return h

    def register_load_state_dict_post_hook(self, hook):
        """``hook(module, incompatible_keys)`` after ``load_state_dict``."""
        h = RemovableHandle(self._load_state_dict_post_hooks)
        self._load_state_dict_post_hooks[h.id] = hook
        return h

    # ---- hooks and calling ------------------------------------------------------------
    def register_forward_pre_hook(self, hook, *, prepend=False, with_kwargs=False):
        """``hook(module, args)`` (or ``hook(module, args, kwargs)`` with
        ``with_kwargs``) runs before forward; a non-None result replaces the
        input (a non-tuple is wrapped in a 1-tuple)."""
        h = RemovableHandle(self._forward_pre_hooks, self._forward_pre_hooks_with_kwargs)
        self._forward_pre_hooks[h.id] = hook
        if with_kwargs:
            self._forward_pre_hooks_with_kwargs[h.id] = True
        if prepend:
            self._forward_pre_hooks.move_to_end(h.id, last=False)
        return h

    def register_forward_hook(self, hook, *, prepend=False, with_kwargs=False, always_call=False):
        """``hook(module, args, output)`` (or ``hook(module, args, kwargs, output)``)
        runs after forward; a non-None result replaces the output."""
        h = RemovableHandle(self._forward_hooks, self._forward_hooks_with_kwargs,
                            self._forward_hooks_always_called)
        self._forward_hooks[h.id] = hook
        if with_kwargs:
            self._forward_hooks_with_kwargs[h.id] = True
        if always_call:
            self._forward_hooks_always_called[h.id] = True
        if prepend:
            self._forward_hooks.move_to_end(h.id, last=False)
        return h

    def register_full_backward_hook(self, hook, prepend=False):
        """``hook(module, grad_input, grad_output)`` runs once the gradients with
        respect to the module's tensor inputs are computed; a non-None result
        replaces grad_input."""
        if self._is_full_backward_hook is False:
            raise RuntimeError("Cannot use both regular backward hooks and full backward hooks on a "
                               "single Module. Please use only one of them.")
        self._is_full_backward_hook = True
        h = RemovableHandle(self._backward_hooks)
        self._backward_hooks[h.id] = hook
        if prepend:
            self._backward_hooks.move_to_end(h.id, last=False)
        return h

    def register_full_backward_pre_hook(self, hook, prepend=False):
        """``hook(module, grad_output)`` runs before the module's gradients are
        computed; a non-None result replaces grad_output."""
        h = RemovableHandle(self._backward_pre_hooks)
        self._backward_pre_hooks[h.id] = hook
        if prepend:
            self._backward_pre_hooks.move_to_end(h.id, last=False)
        return h

    def register_backward_hook(self, hook):
        """Deprecated in torch; Ember runs it as a full backward hook."""
        if self._is_full_backward_hook is True:
            raise RuntimeError("Cannot use both regular backward hooks and full backward hooks on a "
                               "single Module. Please use only one of them.")
        h = RemovableHandle(self._backward_hooks)
        self._backward_hooks[h.id] = hook
        return h

    def __call__(self, *args, **kwargs):
        d = self.__dict__
        if not (d["_forward_hooks"] or d["_forward_pre_hooks"] or d["_backward_hooks"]
                or d["_backward_pre_hooks"] or _GlobalHookFlag.on):
            return self.forward(*args, **kwargs)
        return self._call_with_hooks(args, kwargs)

    _call_impl = __call__

    def _call_with_hooks(self, args, kwargs):
        # (tuples first: a hook registered or removed meanwhile, by this hook or
        # by another thread, must not break the iteration; torch does the same)
        for hid, hook in (*_global_forward_pre_hooks.items(), *self._forward_pre_hooks.items()):
            if hid in self._forward_pre_hooks_with_kwargs:
                res = hook(self, args, kwargs)
                if res is not None:
                    if not (isinstance(res, tuple) and len(res) == 2):
                        raise RuntimeError("forward pre-hook must return None or a tuple of "
                                           f"(new_args, new_kwargs), but got {res}.")
                    args, kwargs = res
            else:
                res = hook(self, args)
                if res is not None:
                    args = res if isinstance(res, tuple) else (res,)

        bw_hooks = list(_global_backward_hooks.values()) + list(self._backward_hooks.values())
        bw_pre = list(_global_backward_pre_hooks.values()) + list(self._backward_pre_hooks.values())
        bw = None
        if (bw_hooks or bw_pre) and _gm.enabled:
            bw = _BackwardHook(self, bw_hooks, bw_pre)
            args = bw.setup_inputs(args)

        called = set()
        try:
            result = self.forward(*args, **kwargs)
            for hid, hook in (*_global_forward_hooks.items(), *self._forward_hooks.items()):
                called.add(hid)
                if hid in self._forward_hooks_with_kwargs:
                    res = hook(self, args, kwargs, result)
                else:
                    res = hook(self, args, result)
                if res is not None:
                    result = res
        except Exception:
            # hooks registered with always_call run even when forward raised
            for hid, hook in (*_global_forward_hooks.items(), *self._forward_hooks.items()):
                if hid in called:
                    continue
                if hid in self._forward_hooks_always_called or \
                        hid in _global_forward_hooks_always_called:
                    try:
                        if hid in self._forward_hooks_with_kwargs:
                            hook(self, args, kwargs, None)
                        else:
                            hook(self, args, None)
                    except Exception:
                        pass
            raise
        if bw is not None:
            result = bw.setup_outputs(result)
        return result

    # ---- printing ---------------------------------------------------------------------
    def _get_name(self):
        return type(self).__name__

    def extra_repr(self):
        """The text inside this module's ``Name(...)`` in ``repr`` (override it)."""
        return ""

    def __repr__(self):
        extra = self.extra_repr()
        extra_lines = extra.split("\n") if extra else []
        child_lines = []
        for key, m in self._modules.items():
            child_lines.append("(" + key + "): " + _addindent(repr(m), 2))
        lines = extra_lines + child_lines
        s = self._get_name() + "("
        if lines:
            if len(extra_lines) == 1 and not child_lines:
                s += extra_lines[0]
            else:
                s += "\n  " + "\n  ".join(lines) + "\n"
        return s + ")"

    def compile(self, *args, **kwargs):
        """No compiler in Ember: a no-op kept so torch code runs."""
        return None


def _remove_from(name, *dicts_or_sets):
    for d in dicts_or_sets:
        if name in d:
            if isinstance(d, dict):
                del d[name]
            else:
                d.discard(name)


def _plain(t):
    """A plain Tensor sharing ``t``'s memory, version counter and grad flag."""
    p = _wrap(t._data)
    p._vc = t._vc
    p.requires_grad = t.requires_grad
    return p


def _copy_into(t, src):
    """Copy ``src``'s values into ``t``'s memory, casting to its dtype.  ``t``
    keeps its device (torch's load_state_dict): a source on another device
    travels through the host."""
    dst = t._data
    b = backend_of(dst)
    data = src._data
    if backend_of(data) is not b:
        data = b.from_host(src.numpy(force=True))
    b.xp.copyto(dst, data, casting="unsafe")
    t._vc[0] += 1


def _as_tensor(value):
    """A state-dict value as an Ember Tensor: Ember tensors pass through; NumPy
    arrays and torch tensors (anything with ``.numpy()``) are wrapped.  None
    when the value is not tensor-like."""
    if isinstance(value, Tensor):
        return value
    if isinstance(value, np.ndarray) or is_array(value):     # (a CuPy array too)
        return _wrap(value)
    if hasattr(value, "detach") and hasattr(value, "numpy"):  # a torch tensor
        return _wrap(np.asarray(value.detach().cpu().numpy()))
    if isinstance(value, np.generic):
        return _wrap(np.asarray(value))
    return None


# ---- full backward hooks ------------------------------------------------------------------

def _backward_hook_fn():
    """The identity Function used to observe gradients at a module's boundary
    (built lazily: ``ember.autograd`` must be importable first)."""
    from ...autograd.function import Function

    class BackwardHookFunction(Function):
        @staticmethod
        def forward(ctx, *tensors):
            return tensors

        @staticmethod
        def backward(ctx, *grads):
            return ctx.callback(grads)

    return BackwardHookFunction


_BHF = None


def _check_hook_grads(new, old):
    """A module backward (pre-)hook's replacement gradients, checked as torch checks
    them (its message names the hook 'hook', the wrapper torch runs it in)."""
    from ...autograd._checks import hook_result
    for r, g in zip(new, old):
        if r is not None and g is not None:
            hook_result("hook", r, g)


class _BackwardHook:
    """Wires a module's full backward (pre-)hooks around one call: an identity
    node on the outputs captures grad_output (and runs pre-hooks); one on the
    inputs sees grad_input and runs the hooks."""

    def __init__(self, module, hooks, pre_hooks):
        global _BHF
        if _BHF is None:
            _BHF = _backward_hook_fn()
        self.module = module
        self.hooks = hooks
        self.pre_hooks = pre_hooks
        self.grad_outputs = None
        self.n_inputs = 0
        self.input_wired = False

    def _wrap(self, values, callback):
        """Pass the grad-requiring tensors among ``values`` through an identity
        node whose backward calls ``callback`` with one gradient per tensor in
        ``values`` (None for those not requiring grad); returns ``values`` with
        those tensors replaced, and whether any were."""
        is_tuple = isinstance(values, tuple)
        seq = values if is_tuple else (values,)
        tpos = [i for i, v in enumerate(seq) if isinstance(v, Tensor)]
        gpos = [k for k, i in enumerate(tpos) if seq[i].requires_grad]
        if not gpos:
            return values, False
        n = len(tpos)

        def node_backward(grads):
            full = [None] * n
            for k, g in zip(gpos, grads):
                full[k] = g
            full = callback(tuple(full))
            return tuple(full[k] for k in gpos)

        out = _BHF.apply(*[seq[tpos[k]] for k in gpos])
        out[0].grad_fn.callback = node_backward
        new = list(seq)
        for k, o in zip(gpos, out):
            new[tpos[k]] = o
        return (tuple(new) if is_tuple else new[0]), True

    def setup_inputs(self, args):
        self.n_inputs = sum(isinstance(a, Tensor) for a in args)

        def on_inputs(grads):
            grad_inputs = tuple(grads)
            for hook in self.hooks:
                res = hook(self.module, grad_inputs, self.grad_outputs)
                if res is not None:
                    res = tuple(res) if isinstance(res, (tuple, list)) else (res,)
                    if len(res) != len(grad_inputs):
                        raise RuntimeError(f"Backward hook returned an invalid number of grad_input, "
                                           f"got {len(res)}, but expected {len(grad_inputs)}")
                    _check_hook_grads(res, grad_inputs)
                    grad_inputs = res
            return grad_inputs

        new, self.input_wired = self._wrap(args, on_inputs)
        return new

    def setup_outputs(self, result):
        def on_outputs(grads):
            grads = tuple(grads)
            for hook in self.pre_hooks:
                res = hook(self.module, grads)
                if res is not None:
                    res = tuple(res) if isinstance(res, (tuple, list)) else (res,)
                    _check_hook_grads(res, grads)
                    grads = res
            self.grad_outputs = grads
            if not self.input_wired and self.hooks:
                # no input needs grad: hooks still run, with grad_input all None
                import warnings
                warnings.warn("Full backward hook is firing when gradients are computed with "
                              "respect to module outputs since no inputs require gradients. See "
                              "https://docs.pytorch.org/docs/main/generated/torch.nn.Module.html"
                              "#torch.nn.Module.register_full_backward_hook for more details.",
                              stacklevel=2)
                none = (None,) * self.n_inputs
                for hook in self.hooks:
                    hook(self.module, none, grads)
            return grads

        new, _ = self._wrap(result, on_outputs)
        return new


def _weight_bias(module):
    """``module.weight, module.bias``, read straight from ``_parameters`` (the
    usual case, the fast path of the layers' forward), else through attribute
    lookup: a parametrized or weight-normalised weight is a property or a
    plain attribute, not a parameter."""
    p = module._parameters
    if "weight" in p and "bias" in p:
        return p["weight"], p["bias"]
    return getattr(module, "weight"), getattr(module, "bias")
