"""Tokenizers: characters for small corpora, GPT-2's byte-level BPE for real models."""
from .char import CharTokenizer

__all__ = ["CharTokenizer"]

try:  # the GPT-2 tokenizer lives in its own file
    from .gpt2 import GPT2Tokenizer  # noqa: F401
    __all__.append("GPT2Tokenizer")
except ImportError as _e:
    if "ember.text.gpt2" not in str(_e):
        raise
