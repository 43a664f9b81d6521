"""A character-level language model: embedding -> LSTM -> linear head.

    ids (N, T) int64 --Embedding--> (N, T, embed_dim)
                     --LSTM (num_layers, batch_first)--> (N, T, hidden_size)
                     --Dropout, Linear--> logits (N, T, vocab_size)

Train it with ``F.cross_entropy(logits.reshape(-1, V), targets.reshape(-1))``
on windows whose targets are the inputs shifted by one; ``generate`` then
samples text one character at a time, carrying the LSTM state forward.

Written against torch's API (``import ember as torch``): the tests run this
same file under real torch and check both give the same outputs.
"""
import ember as torch
from ember import nn

__all__ = ["CharLSTM"]


class CharLSTM(nn.Module):
    """LSTM language model over a vocabulary of ``vocab_size`` tokens.

    Args:
        vocab_size: number of distinct token ids.
        embed_dim: size of each token's embedding.
        hidden_size: LSTM state size.
        num_layers: stacked LSTM layers.
        dropout: dropout between LSTM layers and before the head.
        tie_weights: share the embedding matrix with the output layer
            (needs ``embed_dim == hidden_size``).
    """

    def __init__(self, vocab_size, embed_dim=64, hidden_size=256, num_layers=2, dropout=0.0,
                 tie_weights=False):
        super().__init__()
        self.vocab_size = vocab_size
        self.embed = nn.Embedding(vocab_size, embed_dim)
        self.lstm = nn.LSTM(embed_dim, hidden_size, num_layers=num_layers, batch_first=True,
                            dropout=dropout if num_layers > 1 else 0.0)
        self.drop = nn.Dropout(dropout)
        self.head = nn.Linear(hidden_size, vocab_size)
        if tie_weights:
            if embed_dim != hidden_size:
                raise ValueError(f"tie_weights needs embed_dim == hidden_size, got "
                                 f"{embed_dim} and {hidden_size}")
            self.head.weight = self.embed.weight

    def forward(self, idx, state=None):
        """``idx`` (N, T) int64 -> ``(logits (N, T, vocab_size), (h, c))``; ``h`` and
        ``c`` are (num_layers, N, hidden_size), to pass back as ``state`` to
        continue the sequence."""
        out, state = self.lstm(self.embed(idx), state)
        return self.head(self.drop(out)), state

    @torch.no_grad()
    def generate(self, idx, max_new_tokens, temperature=1.0, top_k=None, generator=None):
        """Extend each prompt in ``idx`` (N, T) by ``max_new_tokens`` sampled ids.

        ``temperature`` < 1 sharpens the distribution, > 1 flattens it;
        ``top_k`` keeps only the k most likely tokens at each step;
        ``generator`` makes sampling reproducible.  Returns (N, T + max_new_tokens).
        """
        if temperature <= 0:
            raise ValueError(f"temperature must be positive, got {temperature}")
        was_training = self.training
        self.eval()
        logits, state = self(idx)  # read the whole prompt once
        out = [idx]
        for _ in range(max_new_tokens):
            step = logits[:, -1, :] / temperature
            if top_k is not None:
                kth = torch.topk(step, min(top_k, step.size(-1))).values[:, -1:]
                step = step.masked_fill(step < kth, float("-inf"))
            nxt = torch.multinomial(torch.softmax(step, dim=-1), 1, generator=generator)
            out.append(nxt)
            logits, state = self(nxt, state)  # one step, carrying (h, c)
        self.train(was_training)
        return torch.cat(out, dim=1)
