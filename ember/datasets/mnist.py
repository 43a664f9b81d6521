"""MNIST and FashionMNIST from the standard IDX files (plain or .gz).

Layout searched under ``root`` (first match wins): ``root/``,
``root/mnist/`` (or ``fashion-mnist/``), and torchvision's
``root/MNIST/raw/``.  ``train=True`` reads ``train-*-idx?-ubyte``,
``train=False`` reads ``t10k-*``.
"""
import gzip
import os
import struct

import numpy as np

from .._creation import from_numpy

_IDX_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: np.dtype(">i2"), 0x0C: np.dtype(">i4"),
               0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}


def read_idx(path):
    """Read an IDX file (optionally gzipped) into a NumPy array.

    Raises ValueError naming the file when it is truncated or not IDX.
    """
    opener = gzip.open if str(path).endswith(".gz") else open
    try:
        with opener(path, "rb") as f:
            raw = f.read()
    except FileNotFoundError:
        raise
    except (OSError, EOFError) as e:
        raise ValueError(f"{path}: cannot read ({e}); the file is damaged") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_DTYPES:
        raise ValueError(f"{path}: not an IDX file (bad magic number)")
    dt = np.dtype(_IDX_DTYPES[raw[2]])
    ndim = raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise ValueError(f"{path}: truncated header")
    shape = struct.unpack(f">{ndim}I", raw[4:header])
    n = int(np.prod(shape)) * dt.itemsize
    if len(raw) - header != n:
        raise ValueError(f"{path}: expected {n} bytes of data for shape {shape}, found "
                         f"{len(raw) - header}: the file is truncated or damaged")
    return np.frombuffer(raw, dtype=dt, offset=header).reshape(shape).astype(dt.newbyteorder("="))


class MNIST:
    """The MNIST digits as a map-style dataset of ``(image, label)``.

    Without a transform, ``image`` is a (28, 28) uint8 tensor; with
    ``transforms.ToTensor()`` it becomes (1, 28, 28) float32 in [0, 1].
    ``data`` (N, 28, 28 uint8) and ``targets`` (N int64) hold everything at
    once for fast full-tensor pipelines.
    """

    folder = "mnist"
    mirrors = ["https://ossci-datasets.s3.amazonaws.com/mnist/",
               "http://yann.lecun.com/exdb/mnist/"]
    classes = ["0 - zero", "1 - one", "2 - two", "3 - three", "4 - four", "5 - five",
               "6 - six", "7 - seven", "8 - eight", "9 - nine"]

    def __init__(self, root, train=True, transform=None, target_transform=None, download=False):
        self.root = os.fspath(root)
        self.train = train
        self.transform = transform
        self.target_transform = target_transform
        prefix = "train" if train else "t10k"
        names = (f"{prefix}-images-idx3-ubyte", f"{prefix}-labels-idx1-ubyte")
        paths = [self._find(n) for n in names]
        if any(p is None for p in paths):
            if download:
                self.download()
                paths = [self._find(n) for n in names]
            missing = [n for n, p in zip(names, paths) if p is None]
            if missing:
                raise FileNotFoundError(
                    f"{type(self).__name__}: {missing[0]}(.gz) not found under {self.root} "
                    f"(looked in {', '.join(self._dirs())}); put the IDX files there or pass "
                    "download=True where a network is available")
        images = read_idx(paths[0])
        labels = read_idx(paths[1])
        if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
            raise ValueError(f"{paths[0]} and {paths[1]} don't match: images {images.shape}, "
                             f"labels {labels.shape}")
        if labels.size and labels.max() >= len(self.classes):
            raise ValueError(f"{paths[1]}: label {labels.max()} out of range")
        self.data = from_numpy(np.ascontiguousarray(images))
        self.targets = from_numpy(labels.astype(np.int64))

    def _dirs(self):
        return [self.root, os.path.join(self.root, self.folder),
                os.path.join(self.root, type(self).__name__, "raw")]

    def _find(self, name):
        for d in self._dirs():
            for cand in (name, name + ".gz"):
                p = os.path.join(d, cand)
                if os.path.isfile(p):
                    return p
        return None

    def download(self):
        """Fetch the four standard files into ``root/<folder>`` (needs a network)."""
        import urllib.request
        dest = os.path.join(self.root, self.folder)
        os.makedirs(dest, exist_ok=True)
        for prefix in ("train", "t10k"):
            for kind in ("images-idx3-ubyte", "labels-idx1-ubyte"):
                fname = f"{prefix}-{kind}.gz"
                target = os.path.join(dest, fname)
                if os.path.isfile(target):
                    continue
                errors = []
                for mirror in self.mirrors:
                    try:
                        with urllib.request.urlopen(mirror + fname, timeout=10) as r:
                            blob = r.read()
                        with open(target + ".part", "wb") as f:
                            f.write(blob)
                        os.replace(target + ".part", target)
                        break
                    except OSError as e:
                        errors.append(f"{mirror}: {e}")
                else:
                    raise RuntimeError(f"could not download {fname} (no network?): "
                                       + "; ".join(errors))

    def __len__(self):
        return len(self.targets)

    def __getitem__(self, index):
        img = self.data[index]
        target = int(self.targets._data[index])
        if self.transform is not None:
            img = self.transform(img)
        if self.target_transform is not None:
            target = self.target_transform(target)
        return img, target

    def __repr__(self):
        split = "Train" if self.train else "Test"
        return (f"Dataset {type(self).__name__}\n    Number of datapoints: {len(self)}\n"
                f"    Root location: {self.root}\n    Split: {split}")


class FashionMNIST(MNIST):
    """Zalando's FashionMNIST: same format and API as MNIST."""

    folder = "fashion-mnist"
    mirrors = ["http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"]
    classes = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
               "Sneaker", "Bag", "Ankle boot"]
