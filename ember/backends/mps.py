"""torch.backends.mps: Apple's Metal backend, never available to Ember."""


def is_available():
    return False


def is_built():
    return False
