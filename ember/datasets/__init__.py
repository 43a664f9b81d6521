"""Readers for real data formats: MNIST/FashionMNIST (IDX files) and text corpora.

Nothing here downloads unless asked (``download=True``), and every reader
takes the data's location as an argument.  ``transforms`` has the small
torchvision-style pipeline pieces (ToTensor, Normalize, Compose, Lambda).
"""
from .mnist import MNIST, FashionMNIST, read_idx
from .text import CharDataset, TextCorpus
from . import transforms

__all__ = ["MNIST", "FashionMNIST", "read_idx", "CharDataset", "TextCorpus", "transforms",
           "default_data_root"]


def default_data_root():
    """Where examples look for data: $EMBER_DATA, else ../shared/data when it
    exists, else None (the caller says where to put the files)."""
    import os
    env = os.environ.get("EMBER_DATA")
    if env:
        return env
    here = os.path.dirname(os.path.abspath(__file__))
    for cand in (os.path.join(os.getcwd(), "..", "shared", "data"),
                 os.path.join(here, "..", "..", "..", "shared", "data")):
        if os.path.isdir(cand):
            return os.path.normpath(cand)
    return None
