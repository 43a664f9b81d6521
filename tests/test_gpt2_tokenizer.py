"""ember.text.GPT2Tokenizer: ids identical to transformers.GPT2Tokenizer on the
same vocab.json + merges.txt, and decode(encode(s)) == s.  The vocabularies
are trained here (with the `tokenizers` package, and with a tiny byte-level
BPE trainer of our own), so nothing is downloaded."""
import collections
import json
import os

import numpy as np
import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from ember.text import GPT2Tokenizer  # noqa: E402
from ember.text.gpt2 import bytes_to_unicode, _PATTERN, _re  # noqa: E402

CORPUS = [
    "The quick brown fox jumps over the lazy dog. The dog sleeps; the fox runs away!",
    "It's a truth universally acknowledged, that a single man in possession of a good fortune "
    "must be in want of a wife. I'm sure they'll agree, we've said so, you'd know, we're here.",
    "Numbers: 0 1 2 3 42 1234567 3.14159 1,000,000 2024-01-31 ½ ² ٣٤",
    "Unicode: café naïve résumé Straße Ελληνικά русский 中文字符 日本語 한국어 עברית",
    "Emoji: 😀 😃 🎉 👍🏽 👨‍👩‍👧 🇫🇷 ❤️ — “quotes” ‘single’ … ©®™",
    "Code: def foo(x_1, y__2):\n\treturn x_1 + y__2  # comment\n\n\nif __name__ == '__main__':",
    "Whitespace:   three spaces,\ttab,\t\ttwo tabs, trailing   \n\n  indented\r\nwindows line",
    "ROMEO: But, soft! what light through yonder window breaks? It is the east, and Juliet is the sun.",
] * 5

SAMPLES = [
    "",
    "Hello world",
    "Hello, world! How are you today?",
    "I'm don't they'll we've you're it's he'd SHE'S O'Neil 'quoted'",
    "  leading spaces and trailing spaces   ",
    "tabs\tand\t\tmore\t tabs",
    "line one\nline two\n\n\nline five\r\nwindows\n",
    "    \n   \n",
    "12345 3.14159 1,000,000 0.5e-10 ½ ² ٣٤٥ 10th",
    "café naïve résumé Straße Ελληνικά русский 中文字符 日本語 한국어",
    "😀😃 🎉 👍🏽 👨‍👩‍👧 family 🇫🇷 flag ❤️ heart",
    "snake_case_name __dunder__ a_b-c.d/e\\f",
    "text<|endoftext|>more text <|endoftext|> again<|endoftext|>",
    "!!!??? ... --- *** ### @@@ $$$ %%% ^^^ &&& (((",
    "The quick brown fox jumps over the lazy dog. " * 3,
    "unseen words: xylophone quizzical zephyr jukebox",
    "\u00a0non-breaking\u2009thin\u3000ideographic space",
]


def tiny_bpe(texts, n_merges, path, special="<|endoftext|>"):
    """Train a byte-level BPE the plain way: count pre-tokenized words, then
    repeatedly merge the most frequent adjacent pair.  Writes vocab.json and
    merges.txt in GPT-2's format."""
    benc = bytes_to_unicode()
    pat = _re.compile(_PATTERN)
    words = collections.Counter()
    for t in texts:
        for w in pat.findall(t):
            words[tuple(benc[b] for b in w.encode("utf-8"))] += 1
    vocab = [benc[b] for b in range(256)]
    merges = []
    for _ in range(n_merges):
        pairs = collections.Counter()
        for w, c in words.items():
            for p in zip(w, w[1:]):
                pairs[p] += c
        if not pairs:
            break
        best = max(pairs.items(), key=lambda kv: (kv[1], kv[0]))[0]
        merges.append(best)
        vocab.append(best[0] + best[1])
        new = collections.Counter()
        for w, c in words.items():
            out, i = [], 0
            while i < len(w):
                if i + 1 < len(w) and (w[i], w[i + 1]) == best:
                    out.append(w[i] + w[i + 1])
                    i += 2
                else:
                    out.append(w[i])
                    i += 1
            new[tuple(out)] += c
        words = new
    if special:
        vocab.append(special)
    os.makedirs(path, exist_ok=True)
    with open(os.path.join(path, "vocab.json"), "w", encoding="utf-8") as fh:
        json.dump({t: i for i, t in enumerate(vocab)}, fh, ensure_ascii=False)
    with open(os.path.join(path, "merges.txt"), "w", encoding="utf-8") as fh:
        fh.write("#version: 0.2\n" + "".join(f"{a} {b}\n" for a, b in merges))
    return path


@pytest.fixture(scope="module", params=["tokenizers", "ours", "ours-no-special"])
def vocab_dir(request, tmp_path_factory):
    path = str(tmp_path_factory.mktemp(request.param))
    if request.param == "tokenizers":
        tokenizers = pytest.importorskip("tokenizers")
        t = tokenizers.ByteLevelBPETokenizer()
        t.train_from_iterator(CORPUS, vocab_size=700, min_frequency=2,
                              special_tokens=["<|endoftext|>"], show_progress=False)
        t.save_model(path)
    else:
        tiny_bpe(CORPUS, 250, path, special=None if request.param == "ours-no-special"
                 else "<|endoftext|>")
    return path


@pytest.fixture(scope="module")
def pair(vocab_dir):
    transformers = pytest.importorskip("transformers")
    transformers.logging.set_verbosity_error()
    ref = transformers.GPT2Tokenizer(os.path.join(vocab_dir, "vocab.json"),
                                     os.path.join(vocab_dir, "merges.txt"))
    return GPT2Tokenizer.from_pretrained(vocab_dir), ref


def test_ids_match_transformers(pair):
    ours, ref = pair
    for s in SAMPLES + CORPUS[:8]:
        assert ours.encode(s) == ref.encode(s), repr(s)
        assert ours.tokenize(s) == ref.tokenize(s), repr(s)


def test_roundtrip(pair):
    ours, ref = pair
    for s in SAMPLES + CORPUS[:8]:
        ids = ours.encode(s)
        assert ours.decode(ids) == s, repr(s)
        assert ours.decode(ids) == ref.decode(ids, clean_up_tokenization_spaces=False)


def test_special_tokens_and_call(pair):
    ours, ref = pair
    assert ours.eos_token == "<|endoftext|>"
    assert ours.eos_token_id == ref.eos_token_id
    assert len(ours) == len(ref)
    s = "hello<|endoftext|>world"
    ids = ours.encode(s)
    assert ours.eos_token_id in ids
    assert ours.decode(ids, skip_special_tokens=True) == "helloworld"
    assert ours(s) == {"input_ids": ids, "attention_mask": [1] * len(ids)}
    assert ours(["a b", "c"])["input_ids"] == [ours.encode("a b"), ours.encode("c")]
    assert ours.decode(np.array(ids)) == s
    assert ours.convert_ids_to_tokens(ours.convert_tokens_to_ids(ours.tokenize("fox"))) == \
        ours.tokenize("fox")


def test_byte_table():
    t = bytes_to_unicode()
    assert len(t) == 256 and len(set(t.values())) == 256
    assert t[ord("A")] == "A" and t[ord(" ")] == "Ġ" and t[ord("\n")] == "Ċ"


def test_invalid_utf8_and_errors(pair):
    ours, _ = pair
    # a lone continuation byte decodes to U+FFFD (errors='replace'), as transformers
    lone = ours.convert_tokens_to_ids(bytes_to_unicode()[0x80])
    assert ours.decode([lone]) == "\ufffd"
    with pytest.raises(ValueError, match="not in the vocabulary"):
        ours.decode([10 ** 6])
    with pytest.raises(TypeError, match="expected a str"):
        ours.encode(123)
    with pytest.raises(FileNotFoundError, match="vocab.json"):
        GPT2Tokenizer.from_pretrained("/nonexistent/dir")


def test_fallback_pattern_agrees_on_common_text():
    import re
    from ember.text.gpt2 import _FALLBACK_PATTERN, _GPT2_PATTERN
    regex = pytest.importorskip("regex")
    full, approx = regex.compile(_GPT2_PATTERN), re.compile(_FALLBACK_PATTERN)
    for s in SAMPLES[:8] + SAMPLES[9:12] + CORPUS[:8]:
        assert approx.findall(s) == full.findall(s), repr(s)
