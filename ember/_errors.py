"""torch's wording for errors many ops raise alike (bottom layer: imports nothing from ember)."""
import functools

__all__ = ["not_a_tensor", "AllocationError", "allocation_error", "allocates"]


def not_a_tensor(fn, arg, value, position=None):
    """The TypeError torch raises when ``fn`` gets a non-tensor ``value`` for a tensor
    argument: "fn(): argument 'arg' (position 1) must be Tensor, not int".  ``arg=None``
    leaves out the argument's name ("fn(): argument must be Tensor, not int");
    ``position=None`` leaves out "(position N)".  Returns the error: ``raise`` it."""
    where = "argument" if arg is None else f"argument '{arg}'"
    if position is not None:
        where = f"{where} (position {position})"
    return TypeError(f"{fn}(): {where} must be Tensor, not {type(value).__name__}")


class SerializationError(RuntimeError):
    """A file that ``ember.load`` cannot read: empty, truncated, corrupted or foreign
    (``ember.serialization.SerializationError``; here so every format's reader can raise
    it without importing the others)."""


class AllocationError(RuntimeError, MemoryError):
    """torch's RuntimeError for memory the CPU allocator cannot get ("DefaultCPUAllocator:
    can't allocate memory: you tried to allocate N bytes").  Also a MemoryError, so code
    that catches Python's allocation failure still does."""


def allocation_error(e):
    """The AllocationError for NumPy's MemoryError ``e`` (whose shape and dtype say how
    many bytes were asked for, when NumPy records them)."""
    shape, dtype = getattr(e, "shape", None), getattr(e, "dtype", None)
    if shape is None or dtype is None:
        return AllocationError(f"DefaultCPUAllocator: can't allocate memory: {e}")
    n = dtype.itemsize
    for s in shape:
        n *= s
    return AllocationError(f"DefaultCPUAllocator: can't allocate memory: you tried to allocate "
                           f"{n} bytes. Error code 12 (Cannot allocate memory)")


def allocates(factory):
    """Decorate a tensor factory so that an allocation the machine cannot satisfy raises
    torch's RuntimeError (an AllocationError) instead of NumPy's MemoryError."""
    @functools.wraps(factory)
    def checked(*args, **kwargs):
        try:
            return factory(*args, **kwargs)
        except MemoryError as e:
            if isinstance(e, AllocationError):
                raise
            raise allocation_error(e) from None
    return checked
