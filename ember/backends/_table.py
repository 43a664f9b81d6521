"""KernelTable: one backend's fused kernels, looked up by name; the tables themselves."""


class KernelTable:
    """Fused kernels by name (``K.softmax(x, dim, log)``).

    A backend's table holds the kernels it has a better implementation for
    (compiled, threaded, vendor library); any other name falls through to
    ``fallback``, the generic table of formulas written against ``xp``.  The
    lookup happens once per name: the found function is cached on the table.
    """

    def __init__(self, name, fallback=None):
        self._name = name
        self._fallback = fallback

    def register(self, fn):
        """Decorator: make ``fn`` this table's kernel of the same name (once:
        a second kernel of that name in one table is a mistake)."""
        if fn.__name__ in self.__dict__:
            raise ValueError(f"kernel '{fn.__name__}' is registered twice in the {self._name} "
                             f"table (the second from {fn.__module__})")
        setattr(self, fn.__name__, fn)
        return fn

    def __getattr__(self, name):        # (only for names not set on the table)
        if name.startswith("__") or self._fallback is None:
            raise AttributeError(f"no kernel '{name}' in the {self._name} kernel table")
        fn = getattr(self._fallback, name)
        setattr(self, name, fn)
        return fn

    def __repr__(self):
        return f"<kernel table '{self._name}'>"


GENERIC = KernelTable("generic")          # formulas over xp: ember.backends.generic
CPU = KernelTable("cpu", fallback=GENERIC)  # the CPU's fast paths: ember.backends.cpu
CUDA = KernelTable("cuda", fallback=GENERIC)  # CuPy kernels: ember.backends.gpu.kernels
