"""functional_call (ember.func.functional_call, and the deprecated
ember.nn.utils.stateless.functional_call): run a module with other tensors in place of its parameters
and buffers, for that one call.

The given tensors are swapped into the modules' ``_parameters`` /
``_buffers`` dicts (plain tensors, not Parameters: gradients flow to them,
as torch's), the module runs, and the originals are put back even if it
raises.  Names are those of ``named_parameters``/``named_buffers``
(``"0.weight"``); a name the module lacks becomes a plain attribute for the
call, as torch does.
"""
from ..._tensor_base import TensorBase


def functional_call(module, parameter_and_buffer_dicts, args=None, kwargs=None, *,
                    tie_weights=True, strict=False):
    """``module(*args, **kwargs)`` with ``parameter_and_buffer_dicts`` (a dict
    name -> tensor, or a tuple of such dicts) standing in for its parameters
    and buffers.  With ``tie_weights``, a tensor given for one of several
    tied names (one Parameter under two names) stands for all of them; with
    ``strict``, every parameter and buffer must be given and no other."""
    if isinstance(parameter_and_buffer_dicts, dict):
        given = dict(parameter_and_buffer_dicts)
    elif isinstance(parameter_and_buffer_dicts, (tuple, list)):
        given = {}
        seen = set()
        for d in parameter_and_buffer_dicts:
            if not isinstance(d, dict):
                raise ValueError(f"Expected all elements of parameter_and_buffer_dicts to be "
                                 f"dictionaries but got {type(d)}")
            dup = [k for k in d if k in seen]
            if dup:
                raise ValueError(f"{sorted(dup)} appeared in multiple dictionaries; behavior of "
                                 "functional call is ambiguous")
            seen.update(d)
            given.update(d)
    else:
        raise ValueError(f"Expected parameter_and_buffer_dicts to be a dict, or a list/tuple of "
                         f"dicts, but got {type(parameter_and_buffer_dicts)}")
    for k, v in given.items():
        if v is not None and not isinstance(v, TensorBase):
            raise TypeError(f"{v} is not an instance of torch.Tensor")
    if args is None:
        args = ()
    elif not isinstance(args, tuple):
        args = (args,)
    kwargs = {} if kwargs is None else kwargs

    names = _state_names(module)
    if tie_weights:
        given = _tie(given, names)
    if strict:
        missing = [n for n in names if n not in given]
        unexpected = [n for n in given if n not in names]
        if missing or unexpected:
            parts = []
            if unexpected:
                parts.append("Unexpected key(s): " + ", ".join(f"'{k}'" for k in unexpected) + ".")
            if missing:
                parts.append("Missing key(s): " + ", ".join(f"'{k}'" for k in missing) + ".")
            raise RuntimeError(f"Error(s) in reparametrizing for {type(module).__name__}:\n\t"
                               + "\n\t".join(parts))
    undo = []
    try:
        for name, value in given.items():
            undo.append(_swap(module, name, value))
        return module(*args, **kwargs)
    finally:
        for restore in reversed(undo):
            restore()


def _state_names(module):
    """name -> the tensor object now there, for every parameter and buffer
    (tied ones under each of their names)."""
    out = {}
    for n, p in module.named_parameters(remove_duplicate=False):
        out[n] = p
    for n, b in module.named_buffers(remove_duplicate=False):
        out[n] = b
    return out


def _tie(given, names):
    """Spread a tensor given for one name over the names tied to it."""
    by_obj = {}
    for n, t in names.items():
        if t is not None:
            by_obj.setdefault(id(t), []).append(n)
    out = dict(given)
    for group in by_obj.values():
        if len(group) < 2:
            continue
        named = [n for n in group if n in given]
        if not named:
            continue
        values = {id(given[n]) for n in named}
        if len(values) > 1:
            raise ValueError(f"functional_call got multiple values for keys {sorted(named)}, "
                             "which are tied. Consider using tie_weights=False")
        for n in group:
            out.setdefault(n, given[named[0]])
    return out


_MISSING = object()


def _swap(module, name, value):
    """Put ``value`` at ``name`` ("a.b.weight"); return the function undoing it."""
    *path, leaf = name.split(".")
    owner = module
    for p in path:
        owner = getattr(owner, p)
    d = owner.__dict__
    for table in ("_parameters", "_buffers"):
        entries = d.get(table)
        if entries is not None and leaf in entries:
            old = entries[leaf]
            entries[leaf] = value

            def restore(entries=entries, old=old):
                entries[leaf] = old
            return restore
    old = d.get(leaf, _MISSING)
    object.__setattr__(owner, leaf, value)

    def restore_attr():
        if old is _MISSING:
            d.pop(leaf, None)
        else:
            d[leaf] = old
    return restore_attr
