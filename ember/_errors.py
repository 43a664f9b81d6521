"""torch's wording for errors many ops raise alike (bottom layer: imports nothing from ember)."""

__all__ = ["not_a_tensor"]


def not_a_tensor(fn, arg, value, position=None):
    """The TypeError torch raises when ``fn`` gets a non-tensor ``value`` for a tensor
    argument: "fn(): argument 'arg' (position 1) must be Tensor, not int".  ``arg=None``
    leaves out the argument's name ("fn(): argument must be Tensor, not int");
    ``position=None`` leaves out "(position N)".  Returns the error: ``raise`` it."""
    where = "argument" if arg is None else f"argument '{arg}'"
    if position is not None:
        where = f"{where} (position {position})"
    return TypeError(f"{fn}(): {where} must be Tensor, not {type(value).__name__}")
