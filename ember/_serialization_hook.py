"""save/load entry points; the format lives in ember.serialization."""


def save(obj, f, *args, **kwargs):
    from .serialization import save as _save
    return _save(obj, f, *args, **kwargs)


def load(f, *args, **kwargs):
    from .serialization import load as _load
    return _load(f, *args, **kwargs)
