"""Text corpora for character-level language modelling."""
import os

import numpy as np

from .._creation import from_numpy


class TextCorpus:
    """A text file (or string) encoded as integer ids with a character vocabulary,
    split into train and val parts (the last ``val_fraction`` is val)."""

    def __init__(self, path, val_fraction=0.1, tokenizer=None):
        try:
            with open(path, encoding="utf-8") as f:
                text = f.read()
        except FileNotFoundError:
            raise FileNotFoundError(f"text corpus not found: {path}") from None
        self._setup(text, val_fraction, tokenizer)

    @classmethod
    def from_text(cls, text, val_fraction=0.1, tokenizer=None):
        self = cls.__new__(cls)
        self._setup(text, val_fraction, tokenizer)
        return self

    def _setup(self, text, val_fraction, tokenizer):
        if not text:
            raise ValueError("the corpus is empty")
        if not 0 <= val_fraction < 1:
            raise ValueError(f"val_fraction must be in [0, 1), got {val_fraction}")
        from ..text import CharTokenizer
        self.tokenizer = tokenizer or CharTokenizer.from_text(text)
        ids = np.asarray(self.tokenizer.encode(text), dtype=np.int64)
        n_val = int(len(ids) * val_fraction)
        self.text = text
        self.train_ids = ids[:len(ids) - n_val]
        self.val_ids = ids[len(ids) - n_val:]

    @property
    def vocab_size(self):
        return self.tokenizer.vocab_size

    def split(self, name):
        if name not in ("train", "val"):
            raise ValueError(f"split must be 'train' or 'val', got {name!r}")
        return self.train_ids if name == "train" else self.val_ids

    def get_batch(self, split, batch_size, block_size, generator=None):
        """Random (x, y) windows of ``block_size`` ids, y shifted by one: (B, T) int64."""
        from ..random import _rng
        data = self.split(split)
        if len(data) <= block_size:
            raise ValueError(f"the {split} split has {len(data)} tokens, fewer than "
                             f"block_size + 1 = {block_size + 1}")
        starts = _rng(generator).integers(0, len(data) - block_size, size=batch_size)
        idx = starts[:, None] + np.arange(block_size)
        return from_numpy(data[idx]), from_numpy(data[idx + 1])


class CharDataset:
    """Map-style dataset of every ``block_size`` window of a split: item i is
    ``(ids[i:i+T], ids[i+1:i+T+1])``."""

    def __init__(self, corpus, block_size, split="train"):
        self.data = corpus.split(split)
        self.block_size = block_size
        if len(self.data) <= block_size:
            raise ValueError(f"split {split!r} is shorter than block_size + 1")

    def __len__(self):
        return len(self.data) - self.block_size

    def __getitem__(self, i):
        if i < 0:
            i += len(self)
        if not 0 <= i < len(self):
            raise IndexError(f"index {i} is out of range for a dataset of {len(self)} windows")
        chunk = self.data[i:i + self.block_size + 1]
        return from_numpy(chunk[:-1].copy()), from_numpy(chunk[1:].copy())
