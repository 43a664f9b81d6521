"""ember.accelerator: torch's device-agnostic accelerator API.

Ember computes on the CPU, which torch does not count as an accelerator:
none is available, as under a CPU-only torch, so programs that start with
``device = torch.accelerator.current_accelerator() if
torch.accelerator.is_available() else "cpu"`` pick the CPU.
"""


def is_available(check_device=True):
    """False: no accelerator (CUDA, MPS, XPU ...) is available to Ember."""
    return False


def current_accelerator(check_available=False):
    """The accelerator device, or None when there is none (always, in Ember)."""
    return None


def device_count():
    """How many accelerator devices there are: 0."""
    return 0


def _none_available(what):
    return RuntimeError("Cannot access accelerator device when none is available.")


def current_device_index():
    raise _none_available("current_device_index")


current_device_idx = current_device_index


def set_device_index(device):
    raise _none_available("set_device_index")


set_device_idx = set_device_index


def synchronize(device=None):
    raise _none_available("synchronize")
