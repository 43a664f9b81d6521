"""GPT-2's byte-level BPE tokenizer (reads the vocab.json + merges.txt of a
Hugging Face checkpoint; the ids match transformers.GPT2Tokenizer).

How text becomes ids:
1. Special tokens (``<|endoftext|>``) are cut out of the text first.
2. Pre-tokenization splits the rest with GPT-2's regex into words: a
   contraction ('s 't 're 've 'm 'll 'd), an optional space + letters, an
   optional space + digits, an optional space + other symbols, or whitespace.
3. Each word's UTF-8 bytes are mapped to printable characters (so every byte
   has a visible stand-in, e.g. the space becomes 'Ġ'), then BPE merges
   adjacent pieces, always the pair with the lowest merge rank first, until
   no listed merge applies.
4. Each resulting piece is looked up in vocab.json.
Decoding reverses it: pieces -> bytes -> UTF-8 text.
"""
import json
import os

# GPT-2's pre-tokenization; \p{L} / \p{N} (letters / numbers) need the `regex` package.
_GPT2_PATTERN = r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""
# Without it, the standard library's classes approximate them (letters: word
# characters that are not digits or '_'; numbers: decimal digits only).
_FALLBACK_PATTERN = r"""'s|'t|'re|'ve|'m|'ll|'d| ?[^\W\d_]+| ?\d+| ?(?:[^\s\w]|_)+|\s+(?!\S)|\s+"""
try:
    import regex as _re
    _PATTERN = _GPT2_PATTERN
except ImportError:
    import re as _re
    _PATTERN = _FALLBACK_PATTERN

__all__ = ["GPT2Tokenizer", "bytes_to_unicode"]


def bytes_to_unicode():
    """The reversible byte -> character table of GPT-2.

    Bytes that are printable Latin-1 characters ('!'..'~', '¡'..'¬', '®'..'ÿ')
    stand for themselves; the other 68 bytes (controls, space, ...) get the
    characters from U+0100 on, in byte order.
    """
    keep = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) \
        + list(range(ord("®"), ord("ÿ") + 1))
    table = {}
    extra = 0
    for b in range(256):
        if b in keep:
            table[b] = chr(b)
        else:
            table[b] = chr(256 + extra)
            extra += 1
    return table


class GPT2Tokenizer:
    """Byte-level BPE tokenizer with GPT-2's pre-tokenization.

    ``GPT2Tokenizer(vocab_file, merges_file)`` or
    ``GPT2Tokenizer.from_pretrained(directory)``.  ``encode(text) -> ids``,
    ``decode(ids) -> text`` (``decode(encode(s)) == s``), ``tok(text)`` ->
    ``{'input_ids': [...], 'attention_mask': [...]}``.
    """

    def __init__(self, vocab_file, merges_file, errors="replace", unk_token="<|endoftext|>",
                 bos_token="<|endoftext|>", eos_token="<|endoftext|>", pad_token=None,
                 add_prefix_space=False):
        with open(vocab_file, encoding="utf-8") as fh:
            self.encoder = json.load(fh)
        with open(merges_file, encoding="utf-8") as fh:
            lines = fh.read().split("\n")
        merges = [tuple(line.split()) for line in lines
                  if line.strip() and not line.startswith("#version")]
        self.bpe_ranks = {pair: i for i, pair in enumerate(merges) if len(pair) == 2}
        self.errors = errors
        self.add_prefix_space = add_prefix_space
        self.byte_encoder = bytes_to_unicode()
        self.byte_decoder = {c: b for b, c in self.byte_encoder.items()}
        self.unk_token, self.bos_token, self.eos_token, self.pad_token = \
            unk_token, bos_token, eos_token, pad_token
        # special tokens missing from vocab.json are appended after it (as transformers does)
        self.added_tokens = {}
        for tok in (unk_token, bos_token, eos_token, pad_token):
            if tok is not None and tok not in self.encoder and tok not in self.added_tokens:
                self.added_tokens[tok] = len(self.encoder) + len(self.added_tokens)
        self.decoder = {i: t for t, i in self.encoder.items()}
        self.decoder.update({i: t for t, i in self.added_tokens.items()})
        specials = sorted({t for t in (unk_token, bos_token, eos_token, pad_token) if t}, key=len,
                          reverse=True)
        self.special_tokens = specials
        self._special_split = _re.compile("(" + "|".join(_re.escape(t) for t in specials) + ")") \
            if specials else None
        self._pat = _re.compile(_PATTERN)
        self.cache = {}

    @classmethod
    def from_pretrained(cls, path, **kwargs):
        """Load vocab.json and merges.txt from a checkpoint directory."""
        vocab, merges = os.path.join(path, "vocab.json"), os.path.join(path, "merges.txt")
        for f in (vocab, merges):
            if not os.path.exists(f):
                raise FileNotFoundError(f"GPT2Tokenizer.from_pretrained: {f} not found")
        return cls(vocab, merges, **kwargs)

    # ---- sizes and special ids --------------------------------------------------------

    @property
    def vocab_size(self):
        return len(self.encoder)

    def __len__(self):
        return len(self.encoder) + len(self.added_tokens)

    def _id(self, token):
        return None if token is None else self.convert_tokens_to_ids(token)

    @property
    def eos_token_id(self):
        return self._id(self.eos_token)

    @property
    def bos_token_id(self):
        return self._id(self.bos_token)

    @property
    def unk_token_id(self):
        return self._id(self.unk_token)

    @property
    def pad_token_id(self):
        return self._id(self.pad_token)

    # ---- BPE -------------------------------------------------------------------------------

    def bpe(self, word):
        """Merge the pieces of one pre-tokenized word (already byte-mapped);
        returns its pieces joined by spaces (cached)."""
        cached = self.cache.get(word)
        if cached is not None:
            return cached
        pieces = list(word)
        ranks = self.bpe_ranks
        while len(pieces) > 1:
            best, best_rank = None, None
            for pair in zip(pieces, pieces[1:]):
                r = ranks.get(pair)
                if r is not None and (best_rank is None or r < best_rank):
                    best, best_rank = pair, r
            if best is None:
                break
            a, b = best
            merged = []
            i = 0
            while i < len(pieces):
                if i + 1 < len(pieces) and pieces[i] == a and pieces[i + 1] == b:
                    merged.append(a + b)
                    i += 2
                else:
                    merged.append(pieces[i])
                    i += 1
            pieces = merged
        out = " ".join(pieces)
        if len(self.cache) < 100_000:
            self.cache[word] = out
        return out

    def _split_special(self, text):
        if self._special_split is None:
            return [text]
        return [p for p in self._special_split.split(text) if p]

    def tokenize(self, text):
        """Text -> BPE pieces (strings), special tokens kept whole."""
        if self.add_prefix_space and text and not text[0].isspace():
            text = " " + text
        tokens = []
        benc = self.byte_encoder
        for part in self._split_special(text):
            if part in self.special_tokens:
                tokens.append(part)
                continue
            for word in self._pat.findall(part):
                mapped = "".join(benc[b] for b in word.encode("utf-8"))
                tokens.extend(self.bpe(mapped).split(" "))
        return tokens

    def convert_tokens_to_ids(self, tokens):
        if isinstance(tokens, str):
            i = self.encoder.get(tokens)
            if i is None:
                i = self.added_tokens.get(tokens)
            if i is None:
                i = self.encoder.get(self.unk_token, self.added_tokens.get(self.unk_token))
            return i
        return [self.convert_tokens_to_ids(t) for t in tokens]

    def convert_ids_to_tokens(self, ids):
        if isinstance(ids, int):
            return self.decoder.get(ids)
        return [self.decoder.get(int(i)) for i in ids]

    # ---- the public API --------------------------------------------------------------------

    def encode(self, text):
        """Text -> list of token ids."""
        if not isinstance(text, str):
            raise TypeError(f"GPT2Tokenizer.encode: expected a str, got {type(text).__name__}")
        return self.convert_tokens_to_ids(self.tokenize(text))

    def decode(self, ids, skip_special_tokens=False):
        """Token ids (list, array or 1-d tensor) -> text; invalid UTF-8 is
        handled per ``errors`` ('replace' gives U+FFFD)."""
        if hasattr(ids, "tolist"):
            ids = ids.tolist()
        if isinstance(ids, int):
            ids = [ids]
        out, buf = [], []
        for i in ids:
            tok = self.decoder.get(int(i))
            if tok is None:
                raise ValueError(f"GPT2Tokenizer.decode: id {i} is not in the vocabulary "
                                 f"(size {len(self)})")
            if tok in self.special_tokens:
                if buf:
                    out.append(self._bytes_to_text(buf))
                    buf = []
                if not skip_special_tokens:
                    out.append(tok)
                continue
            buf.append(tok)
        if buf:
            out.append(self._bytes_to_text(buf))
        return "".join(out)

    def _bytes_to_text(self, tokens):
        bdec = self.byte_decoder
        return bytes(bdec[c] for c in "".join(tokens)).decode("utf-8", errors=self.errors)

    def __call__(self, text):
        """{'input_ids': ids, 'attention_mask': ones} for a str (lists of lists for a list of str)."""
        if isinstance(text, (list, tuple)):
            ids = [self.encode(t) for t in text]
            return {"input_ids": ids, "attention_mask": [[1] * len(i) for i in ids]}
        ids = self.encode(text)
        return {"input_ids": ids, "attention_mask": [1] * len(ids)}

    def __repr__(self):
        return (f"GPT2Tokenizer(vocab_size={self.vocab_size}, merges={len(self.bpe_ranks)}, "
                f"eos_token={self.eos_token!r})")
