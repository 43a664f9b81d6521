"""Transformer translation model: token embeddings scaled by sqrt(d_model),
a sinusoidal positional encoding kept as a buffer, ``nn.Transformer`` with a
causal target mask from ``generate_square_subsequent_mask`` and key padding
masks for source, target and memory, CrossEntropyLoss ignoring the padding
token with label smoothing, Adam with the warm-up schedule of "Attention Is
All You Need" as a LambdaLR, gradient clipping, and greedy decoding."""
import math

import numpy as np

PAD, BOS, EOS = 0, 1, 2
SRC_VOCAB, TGT_VOCAB, D_MODEL = 13, 11, 32


def define(torch):
    nn = torch.nn

    class PositionalEncoding(nn.Module):
        def __init__(self, d_model, dropout=0.1, max_len=64):
            super().__init__()
            self.dropout = nn.Dropout(p=dropout)
            position = torch.arange(max_len).unsqueeze(1)
            div_term = torch.exp(torch.arange(0, d_model, 2) * (-math.log(10000.0) / d_model))
            pe = torch.zeros(1, max_len, d_model)
            pe[0, :, 0::2] = torch.sin(position * div_term)
            pe[0, :, 1::2] = torch.cos(position * div_term)
            self.register_buffer("pe", pe)

        def forward(self, x):                         # x: (batch, seq, d_model)
            return self.dropout(x + self.pe[:, :x.size(1)])

    class Seq2SeqTransformer(nn.Module):
        def __init__(self, dropout=0.1):
            super().__init__()
            self.src_tok_emb = nn.Embedding(SRC_VOCAB, D_MODEL, padding_idx=PAD)
            self.tgt_tok_emb = nn.Embedding(TGT_VOCAB, D_MODEL, padding_idx=PAD)
            self.positional_encoding = PositionalEncoding(D_MODEL, dropout)
            self.transformer = nn.Transformer(d_model=D_MODEL, nhead=4, num_encoder_layers=2,
                                              num_decoder_layers=2, dim_feedforward=64,
                                              dropout=dropout, batch_first=True)
            self.generator = nn.Linear(D_MODEL, TGT_VOCAB)

        def embed_src(self, src):
            return self.positional_encoding(self.src_tok_emb(src) * math.sqrt(D_MODEL))

        def embed_tgt(self, tgt):
            return self.positional_encoding(self.tgt_tok_emb(tgt) * math.sqrt(D_MODEL))

        def forward(self, src, tgt):
            tgt_mask = nn.Transformer.generate_square_subsequent_mask(tgt.size(1))
            src_padding_mask, tgt_padding_mask = src == PAD, tgt == PAD
            outs = self.transformer(self.embed_src(src), self.embed_tgt(tgt), tgt_mask=tgt_mask,
                                    src_key_padding_mask=src_padding_mask,
                                    tgt_key_padding_mask=tgt_padding_mask,
                                    memory_key_padding_mask=src_padding_mask)
            return self.generator(outs)

        def greedy_decode(self, src, max_len):
            memory = self.transformer.encoder(self.embed_src(src),
                                              src_key_padding_mask=src == PAD)
            ys = torch.full((src.size(0), 1), BOS, dtype=torch.long)
            for _ in range(max_len - 1):
                tgt_mask = nn.Transformer.generate_square_subsequent_mask(ys.size(1))
                out = self.transformer.decoder(self.embed_tgt(ys), memory, tgt_mask=tgt_mask,
                                               memory_key_padding_mask=src == PAD)
                next_word = self.generator(out[:, -1]).argmax(dim=-1, keepdim=True)
                ys = torch.cat([ys, next_word], dim=1)
            return ys

    return Seq2SeqTransformer


def build(torch, dropout=0.0):
    model = define(torch)(dropout)
    for p in model.parameters():
        if p.dim() > 1:
            torch.nn.init.xavier_uniform_(p)
    return {"model": model}


def make_data(seed=0, steps=4, batch_size=6, max_len=7):
    """A toy task: the target is the source reversed, its tokens shifted down by 2,
    each sentence of random length padded with PAD."""
    rng = np.random.default_rng(seed)
    src = np.full((steps, batch_size, max_len), PAD)
    tgt = np.full((steps, batch_size, max_len + 2), PAD)
    for s in range(steps):
        for b in range(batch_size):
            n = rng.integers(2, max_len + 1)
            words = rng.integers(3, SRC_VOCAB, n)
            src[s, b, :n] = words
            tgt[s, b, :n + 2] = [BOS, *(words[::-1] - 2).clip(3), EOS]
    return {"src": src, "tgt": tgt}


def train(torch, models, data, warmup=4):
    model = models["model"]
    loss_fn = torch.nn.CrossEntropyLoss(ignore_index=PAD, label_smoothing=0.1)
    optimizer = torch.optim.Adam(model.parameters(), lr=1.0, betas=(0.9, 0.98), eps=1e-9)
    # lr = d_model^-0.5 * min(step^-0.5, step * warmup^-1.5), counting steps from 1
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: D_MODEL ** -0.5 * min((step + 1) ** -0.5,
                                                       (step + 1) * warmup ** -1.5))
    out = {"loss": [], "lr": [], "grad_norm": []}
    model.train()
    for src, tgt in zip(data["src"], data["tgt"]):
        src, tgt = torch.tensor(src), torch.tensor(tgt)
        tgt_input, tgt_out = tgt[:, :-1], tgt[:, 1:]
        logits = model(src, tgt_input)
        optimizer.zero_grad()
        loss = loss_fn(logits.reshape(-1, logits.shape[-1]), tgt_out.reshape(-1))
        loss.backward()
        out["grad_norm"].append(torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0).item())
        optimizer.step()
        scheduler.step()
        out["loss"].append(loss.item())
        out["lr"].append(scheduler.get_last_lr()[0])
    model.eval()
    with torch.no_grad():
        src = torch.tensor(data["src"][0])
        out["decoded"] = model.greedy_decode(src, max_len=6).flatten().tolist()
        out["eval_loss"] = [loss_fn(model(src, torch.tensor(data["tgt"][0])[:, :-1]).flatten(0, 1),
                                    torch.tensor(data["tgt"][0])[:, 1:].flatten()).item()]
    return out
