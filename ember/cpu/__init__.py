"""ember.cpu: the CPU device's module, as torch.cpu (here: the legacy ``cpu.amp`` names)."""
from . import amp  # noqa: F401


def is_available():
    return True


def device_count():
    return 1
