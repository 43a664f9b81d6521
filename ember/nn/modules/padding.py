"""Padding layers: constant / zero, reflection, replication and circular
padding of the last 1, 2 or 3 dims (``padding`` = (left, right, top, bottom,
front, back), an int meaning the same on every side)."""
from .. import functional as F
from .module import Module
from .utils import _pair, _quadruple, _ntuple

__all__ = ["ConstantPad1d", "ConstantPad2d", "ConstantPad3d", "ZeroPad1d", "ZeroPad2d",
           "ZeroPad3d", "ReflectionPad1d", "ReflectionPad2d", "ReflectionPad3d",
           "ReplicationPad1d", "ReplicationPad2d", "ReplicationPad3d", "CircularPad1d",
           "CircularPad2d", "CircularPad3d"]

_sextuple = _ntuple(6, "_sextuple")


class _ConstantPadNd(Module):
    __constants__ = ["padding", "value"]

    def __init__(self, value):
        super().__init__()
        self.value = value

    def forward(self, input):
        return F.pad(input, self.padding, "constant", self.value)

    def extra_repr(self):
        return f"padding={self.padding}, value={self.value}"


class ConstantPad1d(_ConstantPadNd):
    """Pad the last dim with ``value``."""

    def __init__(self, padding, value):
        super().__init__(value)
        self.padding = _pair(padding)


class ConstantPad2d(_ConstantPadNd):
    """Pad the last 2 dims with ``value``."""

    def __init__(self, padding, value):
        super().__init__(value)
        self.padding = _quadruple(padding)


class ConstantPad3d(_ConstantPadNd):
    """Pad the last 3 dims with ``value``."""

    def __init__(self, padding, value):
        super().__init__(value)
        self.padding = _sextuple(padding)


class ZeroPad1d(ConstantPad1d):
    """Pad the last dim with zeros."""

    def __init__(self, padding):
        super().__init__(padding, 0.0)

    def extra_repr(self):
        return f"{self.padding}"


class ZeroPad2d(ConstantPad2d):
    """Pad the last 2 dims with zeros."""

    def __init__(self, padding):
        super().__init__(padding, 0.0)

    def extra_repr(self):
        return f"{self.padding}"


class ZeroPad3d(ConstantPad3d):
    """Pad the last 3 dims with zeros."""

    def __init__(self, padding):
        super().__init__(padding, 0.0)

    def extra_repr(self):
        return f"{self.padding}"


class _ModePadNd(Module):
    __constants__ = ["padding"]
    _mode = None
    _parse = None

    def __init__(self, padding):
        super().__init__()
        self.padding = type(self)._parse(padding)

    def forward(self, input):
        return F.pad(input, self.padding, self._mode)

    def extra_repr(self):
        return f"{self.padding}"


class ReflectionPad1d(_ModePadNd):
    """Pad the last dim by reflecting the input at its borders (no edge repeat)."""
    _mode, _parse = "reflect", staticmethod(_pair)


class ReflectionPad2d(_ModePadNd):
    """Pad the last 2 dims by reflection."""
    _mode, _parse = "reflect", staticmethod(_quadruple)


class ReflectionPad3d(_ModePadNd):
    """Pad the last 3 dims by reflection."""
    _mode, _parse = "reflect", staticmethod(_sextuple)


class ReplicationPad1d(_ModePadNd):
    """Pad the last dim by repeating the edge values."""
    _mode, _parse = "replicate", staticmethod(_pair)


class ReplicationPad2d(_ModePadNd):
    """Pad the last 2 dims by repeating the edge values."""
    _mode, _parse = "replicate", staticmethod(_quadruple)


class ReplicationPad3d(_ModePadNd):
    """Pad the last 3 dims by repeating the edge values."""
    _mode, _parse = "replicate", staticmethod(_sextuple)


class CircularPad1d(_ModePadNd):
    """Pad the last dim by wrapping around (periodic)."""
    _mode, _parse = "circular", staticmethod(_pair)


class CircularPad2d(_ModePadNd):
    """Pad the last 2 dims by wrapping around."""
    _mode, _parse = "circular", staticmethod(_quadruple)


class CircularPad3d(_ModePadNd):
    """Pad the last 3 dims by wrapping around."""
    _mode, _parse = "circular", staticmethod(_sextuple)
