"""The translation model in the style of the PyTorch translation tutorial:
sequence-first tensors (``batch_first=False``), ``nn.Transformer`` called with
all eight masks positionally, a causal mask built by hand from ``triu`` and
``masked_fill``, an all-False boolean source mask, padding masks transposed
to batch-first, batches padded by ``pad_sequence`` in a DataLoader
``collate_fn``, and greedy decoding one token at a time with ``torch.max``."""
import math

import numpy as np

UNK, PAD, BOS, EOS = 0, 1, 2, 3
SRC_VOCAB, TGT_VOCAB, EMB = 12, 10, 16


def define(torch):
    nn = torch.nn

    class PositionalEncoding(nn.Module):
        def __init__(self, emb_size, dropout, maxlen=50):
            super().__init__()
            den = torch.exp(- torch.arange(0, emb_size, 2) * math.log(10000) / emb_size)
            pos = torch.arange(0, maxlen).reshape(maxlen, 1)
            pos_embedding = torch.zeros((maxlen, emb_size))
            pos_embedding[:, 0::2] = torch.sin(pos * den)
            pos_embedding[:, 1::2] = torch.cos(pos * den)
            pos_embedding = pos_embedding.unsqueeze(-2)          # (maxlen, 1, emb): seq first
            self.dropout = nn.Dropout(dropout)
            self.register_buffer("pos_embedding", pos_embedding)

        def forward(self, token_embedding):
            return self.dropout(token_embedding + self.pos_embedding[:token_embedding.size(0), :])

    class Translator(nn.Module):
        def __init__(self, dropout):
            super().__init__()
            self.src_embedding = nn.Embedding(SRC_VOCAB, EMB)
            self.tgt_embedding = nn.Embedding(TGT_VOCAB, EMB)
            self.pos_enc = PositionalEncoding(EMB, dropout)
            self.transformer = nn.Transformer(d_model=EMB, nhead=2, num_encoder_layers=1,
                                              num_decoder_layers=2, dim_feedforward=32,
                                              dropout=dropout)
            self.ff = nn.Linear(EMB, TGT_VOCAB)

        def forward(self, src, trg, src_mask, tgt_mask, src_padding_mask, tgt_padding_mask,
                    memory_key_padding_mask):
            src_emb = self.pos_enc(self.src_embedding(src))
            tgt_emb = self.pos_enc(self.tgt_embedding(trg))
            outs = self.transformer(src_emb, tgt_emb, src_mask, tgt_mask, None,
                                    src_padding_mask, tgt_padding_mask, memory_key_padding_mask)
            return self.ff(outs)

        def encode(self, src, src_mask):
            return self.transformer.encoder(self.pos_enc(self.src_embedding(src)), src_mask)

        def decode(self, tgt, memory, tgt_mask):
            return self.transformer.decoder(self.pos_enc(self.tgt_embedding(tgt)), memory, tgt_mask)

    return Translator


def generate_square_subsequent_mask(torch, sz, device):
    mask = (torch.triu(torch.ones((sz, sz), device=device)) == 1).transpose(0, 1)
    return mask.float().masked_fill(mask == 0, float("-inf")).masked_fill(mask == 1, float(0.0))


def create_mask(torch, src, tgt, pad_idx, device):
    src_seq_len, tgt_seq_len = src.shape[0], tgt.shape[0]
    tgt_mask = generate_square_subsequent_mask(torch, tgt_seq_len, device)
    src_mask = torch.zeros((src_seq_len, src_seq_len), device=device).type(torch.bool)
    src_padding_mask = (src == pad_idx).transpose(0, 1)
    tgt_padding_mask = (tgt == pad_idx).transpose(0, 1)
    return src_mask, tgt_mask, src_padding_mask, tgt_padding_mask


def build(torch, dropout=0.0):
    model = define(torch)(dropout)
    for p in model.parameters():
        if p.dim() > 1:
            torch.nn.init.xavier_uniform_(p)
    return {"model": model}


def make_data(seed=0, n=12):
    """Sentence pairs of random lengths: the target is the source with each
    token mapped down by 2, then wrapped in BOS ... EOS."""
    rng = np.random.default_rng(seed)
    pairs = []
    for _ in range(n):
        words = rng.integers(4, SRC_VOCAB, rng.integers(2, 7))
        pairs.append((np.array([BOS, *words, EOS]),
                      np.array([BOS, *np.maximum(words - 2, 4), EOS])))
    return {"pairs": pairs}


def greedy_decode(torch, model, src, src_mask, max_len, start_symbol, end_symbol, device):
    src, src_mask = src.to(device), src_mask.to(device)
    memory = model.encode(src, src_mask)
    ys = torch.ones(1, 1).fill_(start_symbol).type(torch.long).to(device)
    for _ in range(max_len - 1):
        tgt_mask = generate_square_subsequent_mask(torch, ys.size(0), device).type(torch.bool)
        out = model.decode(ys, memory, tgt_mask).transpose(0, 1)
        prob = model.ff(out[:, -1])
        _, next_word = torch.max(prob, dim=1)
        next_word = next_word.item()
        ys = torch.cat([ys, torch.ones(1, 1).type_as(src.data).fill_(next_word)], dim=0)
        if next_word == end_symbol:
            break
    return ys


def train(torch, models, data, epochs=2, batch_size=4):
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    model = models["model"].to(device)

    def collate_fn(batch):
        src_batch = [torch.tensor(s) for s, _ in batch]
        tgt_batch = [torch.tensor(t) for _, t in batch]
        pad = torch.nn.utils.rnn.pad_sequence
        return pad(src_batch, padding_value=PAD), pad(tgt_batch, padding_value=PAD)

    train_dl = torch.utils.data.DataLoader(data["pairs"], batch_size=batch_size,
                                           collate_fn=collate_fn)
    loss_fn = torch.nn.CrossEntropyLoss(ignore_index=PAD)
    optim = torch.optim.Adam(model.parameters(), lr=1e-3, betas=(0.9, 0.98), eps=1e-9)
    out = {"loss": [], "epoch_loss": [], "decoded": []}
    for epoch in range(epochs):
        model.train()
        losses = 0
        for src, tgt in train_dl:
            src, tgt = src.to(device), tgt.to(device)
            tgt_input = tgt[:-1, :]
            src_mask, tgt_mask, src_padding_mask, tgt_padding_mask = create_mask(
                torch, src, tgt_input, PAD, device)
            logits = model(src, tgt_input, src_mask, tgt_mask, src_padding_mask,
                           tgt_padding_mask, src_padding_mask)
            optim.zero_grad()
            tgt_out = tgt[1:, :]
            loss = loss_fn(logits.reshape(-1, logits.shape[-1]), tgt_out.reshape(-1))
            loss.backward()
            optim.step()
            losses += loss.item()
            out["loss"].append(loss.item())
        out["epoch_loss"].append(losses / len(list(train_dl)))
    model.eval()
    with torch.no_grad():
        for s, _ in data["pairs"][:3]:
            src = torch.tensor(s).view(-1, 1)
            num_tokens = src.shape[0]
            src_mask = (torch.zeros(num_tokens, num_tokens)).type(torch.bool)
            tokens = greedy_decode(torch, model, src, src_mask, max_len=num_tokens + 2,
                                   start_symbol=BOS, end_symbol=EOS, device=device).flatten()
            out["decoded"] += list(tokens.cpu().numpy())
    return out
