"""MNIST readers on the real files in ../shared/data, text corpora, transforms."""
import gzip
import os

import numpy as np
import pytest

import ember
from ember.datasets import MNIST, FashionMNIST, TextCorpus, CharDataset, read_idx, transforms

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.environ.get("EMBER_DATA", os.path.join(HERE, "..", "..", "shared", "data"))
MNIST_DIR = os.path.join(DATA, "mnist")
needs_mnist = pytest.mark.skipif(
    not os.path.isfile(os.path.join(MNIST_DIR, "t10k-images-idx3-ubyte.gz")),
    reason="real MNIST files not present")


@needs_mnist
def test_real_mnist_test_split():
    ds = MNIST(DATA, train=False)
    assert len(ds) == 10000
    img, label = ds[0]
    assert img.shape == (28, 28) and img.dtype == ember.uint8
    assert label == 7                       # the first test digit is a 7
    assert ds.targets.dtype == ember.int64
    counts = np.bincount(ds.targets.numpy(), minlength=10)
    assert counts.sum() == 10000 and counts.min() > 800
    x, y = MNIST(MNIST_DIR, train=False, transform=transforms.ToTensor())[1]
    assert x.shape == (1, 28, 28) and x.dtype == ember.float32
    assert 0.0 <= x.min().item() and x.max().item() <= 1.0


@needs_mnist
def test_missing_train_split_names_the_file():
    with pytest.raises(FileNotFoundError, match="train-images-idx3-ubyte"):
        MNIST(DATA, train=True)


def _write_idx(path, arr, magic_type=0x08):
    header = bytes([0, 0, magic_type, arr.ndim]) + b"".join(
        int(s).to_bytes(4, "big") for s in arr.shape)
    data = header + arr.astype(np.uint8).tobytes()
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "wb") as f:
        f.write(data)


def test_plain_and_gz_and_torchvision_layout(tmp_path):
    imgs = np.arange(3 * 28 * 28).reshape(3, 28, 28) % 256
    labs = np.array([1, 2, 3])
    raw = tmp_path / "FashionMNIST" / "raw"
    raw.mkdir(parents=True)
    _write_idx(raw / "train-images-idx3-ubyte", imgs)
    _write_idx(raw / "train-labels-idx1-ubyte.gz", labs)
    ds = FashionMNIST(tmp_path, train=True, target_transform=lambda y: y * 10)
    assert len(ds) == 3 and ds[2][1] == 30
    np.testing.assert_array_equal(ds.data.numpy(), imgs)


def test_damaged_files_raise_naming_the_file(tmp_path):
    p = tmp_path / "t10k-images-idx3-ubyte"
    _write_idx(p, np.zeros((2, 28, 28)))
    with open(p, "r+b") as f:
        f.truncate(100)
    with pytest.raises(ValueError, match="t10k-images-idx3-ubyte.*truncated"):
        read_idx(p)
    q = tmp_path / "junk.gz"
    q.write_bytes(b"not gzip at all")
    with pytest.raises(ValueError, match="junk.gz"):
        read_idx(q)
    r = tmp_path / "bad"
    r.write_bytes(b"\x01\x02\x03\x04")
    with pytest.raises(ValueError, match="bad magic"):
        read_idx(r)


def test_download_without_network_is_clear(tmp_path, monkeypatch):
    import urllib.request

    def refuse(*a, **k):
        raise OSError("network unreachable")
    monkeypatch.setattr(urllib.request, "urlopen", refuse)
    with pytest.raises(RuntimeError, match="could not download"):
        MNIST(tmp_path, train=False, download=True)


def test_text_corpus_and_char_dataset(tmp_path):
    p = tmp_path / "t.txt"
    p.write_text("hello world, hello ember\n" * 20)
    c = TextCorpus(p, val_fraction=0.25)
    assert c.vocab_size == len(set(p.read_text()))
    assert len(c.train_ids) + len(c.val_ids) == len(p.read_text())
    x, y = c.get_batch("train", 4, 8)
    assert x.shape == (4, 8) and x.dtype == ember.int64
    np.testing.assert_array_equal(x.numpy()[:, 1:], y.numpy()[:, :-1])
    ds = CharDataset(c, 8, "val")
    a, b = ds[0]
    assert c.tokenizer.decode(a) + c.tokenizer.decode(b)[-1] == c.tokenizer.decode(c.val_ids[:9])
    with pytest.raises(FileNotFoundError, match="nope.txt"):
        TextCorpus(tmp_path / "nope.txt")


def test_transforms_normalize():
    x = transforms.ToTensor()(ember.tensor(np.full((2, 2), 255, dtype=np.uint8)))
    y = transforms.Normalize((0.5,), (0.5,))(x)
    assert y.tolist() == [[[1.0, 1.0], [1.0, 1.0]]]
