"""torchvision-style transforms for image tensors."""
import numpy as np

from .._tensor import Tensor

from .._tensor_base import _wrap
from ..backends import backend_of


class Compose:
    def __init__(self, transforms):
        self.transforms = list(transforms)

    def __call__(self, x):
        for t in self.transforms:
            x = t(x)
        return x

    def __repr__(self):
        inner = "".join(f"\n    {t}" for t in self.transforms)
        return f"Compose({inner}\n)"


class ToTensor:
    """uint8 (H, W) or (H, W, C) image -> float32 (C, H, W) in [0, 1]."""

    def __call__(self, img):
        arr = img._data if isinstance(img, Tensor) else np.asarray(img)
        if arr.ndim == 2:
            arr = arr[None]
        elif arr.ndim == 3:
            arr = arr.transpose(2, 0, 1)
        else:
            raise ValueError(f"ToTensor expects a 2-D or 3-D image, got shape {arr.shape}")
        out = arr.astype(np.float32)
        if arr.dtype == np.uint8:
            out /= 255.0
        return _wrap(np.ascontiguousarray(out))

    def __repr__(self):
        return "ToTensor()"


class Normalize:
    """(x - mean) / std per channel of a (C, H, W) tensor."""

    def __init__(self, mean, std):
        self.mean = np.asarray(mean, dtype=np.float32).reshape(-1, 1, 1)
        self.std = np.asarray(std, dtype=np.float32).reshape(-1, 1, 1)
        if np.any(self.std == 0):
            raise ValueError(f"std evaluated to zero after conversion to float32, leading to "
                             f"division by zero.")

    def __call__(self, x):
        d, mean, std = x._data, self.mean, self.std
        if type(d) is not np.ndarray:       # (a device's tensor: the statistics copied there)
            b = backend_of(d)
            mean, std = b.from_host(mean), b.from_host(std)
        return _wrap(((d - mean) / std).astype(d.dtype))

    def __repr__(self):
        return f"Normalize(mean={self.mean.ravel().tolist()}, std={self.std.ravel().tolist()})"


class Lambda:
    def __init__(self, fn):
        self.fn = fn

    def __call__(self, x):
        return self.fn(x)

    def __repr__(self):
        return "Lambda()"
