"""``from .<name> import *`` for package files that may not exist yet."""
import importlib


def import_optional(pkg, names, namespace):
    """Copy the public names of each existing module ``pkg.<name>`` into ``namespace``.

    Only a missing file is skipped; an error inside an existing file is raised.
    Public names are ``__all__`` when defined, else the functions and classes
    defined in that module.
    """
    for name in names:
        full = f"{pkg}.{name}"
        try:
            mod = importlib.import_module(full)
        except ModuleNotFoundError as e:
            if e.name == full:
                continue
            raise
        public = getattr(mod, "__all__", None)
        if public is None:
            public = [n for n, v in vars(mod).items() if not n.startswith("_")
                      and getattr(v, "__module__", None) == full]
        for n in public:
            namespace[n] = getattr(mod, n)
