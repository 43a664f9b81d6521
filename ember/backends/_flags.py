"""ember.backends: flags code checks before picking a device."""


class _Flag:
    @staticmethod
    def is_available():
        return False

    @staticmethod
    def is_built():
        return False


mps = _Flag()
cuda = _Flag()


class cudnn:
    enabled = False
    benchmark = False
    deterministic = False

    @staticmethod
    def is_available():
        return False
