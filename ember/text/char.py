"""A character-level tokenizer: one id per distinct character, sorted."""
import json


class CharTokenizer:
    """Maps each character of a fixed vocabulary to an id and back."""

    def __init__(self, chars):
        self.chars = list(chars)
        if len(set(self.chars)) != len(self.chars):
            raise ValueError("the vocabulary has repeated characters")
        self.stoi = {c: i for i, c in enumerate(self.chars)}

    @classmethod
    def from_text(cls, text):
        return cls(sorted(set(text)))

    @property
    def vocab_size(self):
        return len(self.chars)

    def encode(self, text):
        try:
            return [self.stoi[c] for c in text]
        except KeyError as e:
            raise ValueError(f"character {e.args[0]!r} is not in the vocabulary") from None

    def decode(self, ids):
        if hasattr(ids, "tolist"):
            ids = ids.tolist()
        try:
            return "".join(self.chars[i] for i in ids)
        except IndexError:
            bad = [i for i in ids if not 0 <= i < len(self.chars)][0]
            raise ValueError(f"id {bad} is out of range for a vocabulary of "
                             f"{len(self.chars)}") from None

    def save(self, path):
        with open(path, "w", encoding="utf-8") as f:
            json.dump({"chars": self.chars}, f)

    @classmethod
    def load(cls, path):
        with open(path, encoding="utf-8") as f:
            return cls(json.load(f)["chars"])
