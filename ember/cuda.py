"""ember.cuda: Ember runs on the CPU, so CUDA is never available."""


def is_available():
    return False


def device_count():
    return 0


def manual_seed(seed):
    pass


def manual_seed_all(seed):
    pass


def synchronize(device=None):
    pass


def empty_cache():
    pass


# the legacy CUDA tensor types (ember.cuda.FloatTensor ...): never instances,
# and calling one raises, as under a CPU-only torch
from ._legacy import cuda_types as _cuda_types  # noqa: E402
globals().update(_cuda_types())
del _cuda_types
