"""Benchmark workloads, each written once against the torch API.

``make(lib)`` builds the model and data with ``lib`` (``ember`` or ``torch``)
and returns a zero-argument ``step`` that runs one forward + backward
(+ optimizer update where the workload trains).

Importing this module keeps freed memory in the process (glibc's mmap/trim
thresholds raised; Ember's opt-in ``tune_allocator``), as Ember's benches
always ran: it is process-wide, so torch, measured in the same process,
gets it too.  A process that runs torch alone (``bench/run.py --separate``
sets BENCH_LIB=torch) imports no Ember and sets the same two thresholds
itself, so both tables compare the frameworks on the same allocator.  (With
glibc's defaults torch's ResNet step took anywhere from ~85 to ~6,300 page
faults, by the process, and ``run.py --separate --cpu`` at one thread timed
torch at 65.3 ms against 52.1 tuned: LeNet 14.5 / 12.0, cnn3d 22.1 / 16.5.)
"""
import os as _os

if _os.environ.get("BENCH_LIB") != "torch":
    import ember as _ember

    _ember.backends.cpu.tune_allocator()
else:
    import ctypes as _ctypes
    import sys as _sys

    if _sys.platform.startswith("linux"):
        try:
            # (Ember's tune_allocator's values: M_MMAP_THRESHOLD (-3) and
            # M_TRIM_THRESHOLD (-1) at 1 GiB; glibc only)
            _libc = _ctypes.CDLL("libc.so.6")
            _libc.mallopt(-3, 1 << 30)
            _libc.mallopt(-1, 1 << 30)
        except (OSError, AttributeError):
            pass


def _on(device):
    """``device=`` for a factory call, or nothing when ``device`` is None, so the
    CPU workloads make their tensors exactly as they always did."""
    return {} if device is None else {"device": device}


def op_overhead(lib):
    """~60 small elementwise/reduction ops on 16x16 float32, forward + backward:
    measures per-op framework overhead, not arithmetic."""
    x = lib.randn(16, 16, requires_grad=True)
    w = lib.randn(16, 16, requires_grad=True)
    b = lib.randn(16, requires_grad=True)

    def step():
        h = x
        for _ in range(10):
            h = (h * w + b).tanh()                 # mul, add, tanh
            h = h - h.mean(dim=1, keepdim=True)    # mean, sub
            h = h.exp()                            # exp: 6 ops a round
        loss = (h * h).sum()
        loss.backward()
        x.grad = None
        w.grad = None
        b.grad = None
    return step


def mlp(lib):
    """MLP 784-128-64-10, batch 128, SGD, cross-entropy: one training step."""
    return _mlp_train(lib, 128)


def _mlp_train(lib, batch, device=None):
    """The MLP step of ``mlp`` at ``batch`` rows; model and data on ``device``
    (None: the default device, as the CPU workloads always ran)."""
    nn = lib.nn
    model = nn.Sequential(nn.Linear(784, 128), nn.ReLU(), nn.Linear(128, 64), nn.ReLU(),
                          nn.Linear(64, 10))
    if device is not None:
        model.to(device)
    opt = lib.optim.SGD(model.parameters(), lr=0.01)
    x = lib.randn(batch, 784, **_on(device))
    y = lib.randint(0, 10, (batch,), **_on(device))
    loss_fn = nn.CrossEntropyLoss()

    def step():
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
    return step


def lenet(lib):
    """LeNet-style CNN (5x5 convs 16/32 channels, max-pool, linear), batch 64, Adam."""
    nn = lib.nn
    model = lenet_model(lib)
    opt = lib.optim.Adam(model.parameters(), lr=1e-3)
    x = lib.randn(64, 1, 28, 28)
    y = lib.randint(0, 10, (64,))
    loss_fn = nn.CrossEntropyLoss()

    def step():
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
    return step


def lenet_model(lib):
    """The LeNet-style CNN of ``lenet`` (1x28x28 in, 10 logits out)."""
    nn = lib.nn
    return nn.Sequential(
        nn.Conv2d(1, 16, 5), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 5), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(32 * 4 * 4, 10))


def cnn3d(lib):
    """3-D CNN (Conv3d 4->16->32, BatchNorm3d, MaxPool3d, global AdaptiveAvgPool3d),
    batch 8 of 4x16x16x16 volumes, Adam."""
    nn = lib.nn
    model = nn.Sequential(
        nn.Conv3d(4, 16, 3, padding=1), nn.BatchNorm3d(16), nn.ReLU(), nn.MaxPool3d(2),
        nn.Conv3d(16, 32, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool3d(1),
        nn.Flatten(), nn.Linear(32, 5))
    opt = lib.optim.Adam(model.parameters(), lr=1e-3)
    x = lib.randn(8, 4, 16, 16, 16)
    y = lib.randint(0, 5, (8,))
    loss_fn = nn.CrossEntropyLoss()

    def step():
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
    return step


def lbfgs(lib):
    """One LBFGS step (strong-Wolfe line search, up to 10 iterations, history 10)
    fitting a 3-32-32-1 tanh MLP to 256 points: the optimizer's own work
    (flattening, two-loop recursion, line search) plus 10-15 closure calls."""
    nn = lib.nn
    lib.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 32), nn.Tanh(), nn.Linear(32, 32), nn.Tanh(),
                          nn.Linear(32, 1))
    x = lib.randn(256, 3)
    y = x.sum(dim=1, keepdim=True).sin()
    init = [p.detach().clone() for p in model.parameters()]

    def step():
        # every step restarts from the same weights and an empty history
        with lib.no_grad():
            for p, p0 in zip(model.parameters(), init):
                p.copy_(p0)
        opt = lib.optim.LBFGS(model.parameters(), history_size=10, max_iter=10,
                              line_search_fn="strong_wolfe")

        def closure():
            opt.zero_grad()
            loss = nn.functional.mse_loss(model(x), y)
            loss.backward()
            return loss
        opt.step(closure)
    return step


def char_lstm(lib):
    """Character LSTM LM: embed 64, hidden 128, seq 32, batch 16, Adam."""
    nn = lib.nn

    class LM(nn.Module):
        def __init__(self, vocab=65):
            super().__init__()
            self.emb = nn.Embedding(vocab, 64)
            self.rnn = nn.LSTM(64, 128, batch_first=True)
            self.head = nn.Linear(128, vocab)

        def forward(self, idx):
            h, _ = self.rnn(self.emb(idx))
            return self.head(h)

    model = LM()
    opt = lib.optim.Adam(model.parameters(), lr=1e-3)
    x = lib.randint(0, 65, (16, 32))
    y = lib.randint(0, 65, (16, 32))
    loss_fn = nn.CrossEntropyLoss()

    def step():
        opt.zero_grad()
        logits = model(x)
        loss = loss_fn(logits.reshape(-1, 65), y.reshape(-1))
        loss.backward()
        opt.step()
    return step


def resnet(lib):
    """Small CIFAR ResNet: 3 BasicBlocks with BatchNorm, batch 32, 32x32, SGD."""
    return _sgd_image_step(lib, resnet_model(lib), 32)


def _sgd_image_step(lib, model, batch, device=None):
    """A cross-entropy SGD (momentum 0.9) step of ``model`` on a random batch
    of 3x32x32 images with 10 classes; model and batch on ``device`` (None:
    the default device)."""
    F = lib.nn.functional
    if device is not None:
        model.to(device)
    opt = lib.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    x = lib.randn(batch, 3, 32, 32, **_on(device))
    y = lib.randint(0, 10, (batch,), **_on(device))

    def step():
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
    return step


def resnet_model(lib, stem=16, stages=((16, 1), (32, 2), (64, 2))):
    """A CIFAR ResNet of BasicBlocks: a 3x3 stem conv of ``stem`` channels, then
    one block per (channels, stride) of ``stages``.  The defaults are the
    small ResNet of ``resnet`` (also used by bench/distributed.py)."""
    nn = lib.nn
    F = lib.nn.functional

    class Block(nn.Module):
        def __init__(self, cin, cout, stride):
            super().__init__()
            self.c1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
            self.b1 = nn.BatchNorm2d(cout)
            self.c2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
            self.b2 = nn.BatchNorm2d(cout)
            self.short = None
            if stride != 1 or cin != cout:
                self.short = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False),
                                           nn.BatchNorm2d(cout))

        def forward(self, x):
            out = F.relu(self.b1(self.c1(x)))
            out = self.b2(self.c2(out))
            return F.relu(out + (x if self.short is None else self.short(x)))

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.stem = nn.Sequential(nn.Conv2d(3, stem, 3, 1, 1, bias=False),
                                      nn.BatchNorm2d(stem), nn.ReLU())
            blocks, cin = [], stem
            for cout, stride in stages:
                blocks.append(Block(cin, cout, stride))
                cin = cout
            self.blocks = nn.Sequential(*blocks)
            self.head = nn.Linear(cin, 10)

        def forward(self, x):
            h = self.blocks(self.stem(x))
            return self.head(F.adaptive_avg_pool2d(h, 1).flatten(1))

    return Net()


def resnet18w(lib):
    """ResNet-18 widths on CIFAR-sized input: a 3x3 stem of 64 channels, then
    four stages of two BasicBlocks (64, 128, 256, 512 channels, strides
    1, 2, 2, 2), global average pool, linear; batch 64 of 3x32x32, SGD."""
    model = resnet_model(lib, stem=64, stages=((64, 1), (64, 1), (128, 2), (128, 1),
                                               (256, 2), (256, 1), (512, 2), (512, 1)))
    return _sgd_image_step(lib, model, 64)


# ---- GPT (attention, transformers) --------------------------------------------------------

def _char_gpt(lib, use_sdpa, n_layer=4, n_head=4, n_embd=128, block_size=64, vocab=65,
              device=None):
    """A nanoGPT-style character GPT written against the torch API.  Attention is
    either the manual form of common GPT code (q @ k^T, masked_fill(-inf),
    softmax, @ v) or F.scaled_dot_product_attention(is_causal=True).  With
    ``past`` (a list of (k, v) per layer) it runs incrementally (KV cache).
    ``device``: where the positions are made (the caller moves the model)."""
    import math
    nn = lib.nn
    F = nn.functional
    pos_kw = _on(device)

    class CausalSelfAttention(nn.Module):
        def __init__(self):
            super().__init__()
            self.c_attn = nn.Linear(n_embd, 3 * n_embd)
            self.c_proj = nn.Linear(n_embd, n_embd)
            self.register_buffer("bias", lib.tril(lib.ones(block_size, block_size))
                                 .view(1, 1, block_size, block_size))

        def forward(self, x, past=None):
            B, T, C = x.size()
            q, k, v = self.c_attn(x).split(n_embd, dim=2)
            k = k.view(B, T, n_head, C // n_head).transpose(1, 2)
            q = q.view(B, T, n_head, C // n_head).transpose(1, 2)
            v = v.view(B, T, n_head, C // n_head).transpose(1, 2)
            if past is not None:
                if past[0] is not None:
                    k = lib.cat([past[0], k], dim=2)
                    v = lib.cat([past[1], v], dim=2)
                present = (k, v)
            S = k.size(2)
            if use_sdpa:
                y = F.scaled_dot_product_attention(q, k, v, is_causal=T > 1 and S == T)
            else:
                att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(k.size(-1)))
                att = att.masked_fill(self.bias[:, :, S - T:S, :S] == 0, float("-inf"))
                att = F.softmax(att, dim=-1)
                y = att @ v
            y = y.transpose(1, 2).contiguous().view(B, T, C)
            y = self.c_proj(y)
            return y if past is None else (y, present)

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.ln_1 = nn.LayerNorm(n_embd)
            self.attn = CausalSelfAttention()
            self.ln_2 = nn.LayerNorm(n_embd)
            self.mlp = nn.Sequential(nn.Linear(n_embd, 4 * n_embd), nn.GELU(),
                                     nn.Linear(4 * n_embd, n_embd))

        def forward(self, x, past=None):
            if past is None:
                x = x + self.attn(self.ln_1(x))
                return x + self.mlp(self.ln_2(x))
            a, present = self.attn(self.ln_1(x), past)
            x = x + a
            return x + self.mlp(self.ln_2(x)), present

    class GPT(nn.Module):
        def __init__(self):
            super().__init__()
            self.wte = nn.Embedding(vocab, n_embd)
            self.wpe = nn.Embedding(block_size, n_embd)
            self.h = nn.ModuleList([Block() for _ in range(n_layer)])
            self.ln_f = nn.LayerNorm(n_embd)
            self.lm_head = nn.Linear(n_embd, vocab, bias=False)
            self.wte.weight = self.lm_head.weight

        def forward(self, idx, targets=None, past=None):
            B, T = idx.size()
            start = 0 if past is None or past[0][0] is None else past[0][0].size(2)
            x = self.wte(idx) + self.wpe(lib.arange(start, start + T, **pos_kw))
            presents = []
            for i, block in enumerate(self.h):
                if past is None:
                    x = block(x)
                else:
                    x, pr = block(x, past[i])
                    presents.append(pr)
            logits = self.lm_head(self.ln_f(x))
            if past is not None:
                return logits, presents
            if targets is None:
                return logits
            return F.cross_entropy(logits.view(-1, logits.size(-1)), targets.view(-1))

    return GPT()


def _gpt_train(lib, use_sdpa, batch=16, device=None, **shape):
    model = _char_gpt(lib, use_sdpa, device=device, **shape)
    if device is not None:
        model.to(device)
    opt = lib.optim.AdamW(model.parameters(), lr=1e-3)
    T = shape.get("block_size", 64)
    x = lib.randint(0, 65, (batch, T), **_on(device))
    y = lib.randint(0, 65, (batch, T), **_on(device))

    def step():
        opt.zero_grad(set_to_none=True)
        loss = model(x, y)
        loss.backward()
        opt.step()
    return step


def gpt(lib):
    """Char GPT 4 layers, 4 heads, 128 wide, context 64, batch 16, AdamW; manual
    causal attention (q @ k^T, masked_fill -inf, softmax, @ v)."""
    return _gpt_train(lib, use_sdpa=False)


def gpt_sdpa(lib):
    """The same GPT with F.scaled_dot_product_attention(is_causal=True)."""
    return _gpt_train(lib, use_sdpa=True)


def nanogpt(lib):
    """nanoGPT's shakespeare-char GPT: 6 layers, 6 heads, 384 wide, context 256,
    batch 8, AdamW, scaled_dot_product_attention (no dropout, so both
    frameworks do the same arithmetic)."""
    return _gpt_train(lib, use_sdpa=True, batch=8, n_layer=6, n_head=6, n_embd=384,
                      block_size=256)


def gpt_infer_b1(lib):
    """Inference latency: the small GPT's no_grad forward (eval) on one 64-token
    sequence, logits out."""
    model = _char_gpt(lib, use_sdpa=True)
    model.eval()
    x = lib.randint(0, 65, (1, 64))

    def step():
        with lib.no_grad():
            model(x)
    return step


def lenet_infer_b1(lib):
    """Inference latency: LeNet's no_grad forward (eval) on one 28x28 image."""
    model = lenet_model(lib)
    model.eval()
    x = lib.randn(1, 1, 28, 28)

    def step():
        with lib.no_grad():
            model(x)
    return step


def kv_decode(lib):
    """Greedy decoding with a KV cache on the same GPT (eval, no grad): prefill a
    16-token prompt (batch 4), then 48 single-token steps.  tokens/s = 192 / step time."""
    model = _char_gpt(lib, use_sdpa=True)
    model.eval()
    prompt = lib.randint(0, 65, (4, 16))

    def step():
        with lib.no_grad():
            past = [(None, None)] * 4
            logits, past = model(prompt, past=past)
            for _ in range(48):
                nxt = logits[:, -1, :].argmax(dim=-1, keepdim=True)
                logits, past = model(nxt, past=past)
    return step


# ---- device workloads (bench/run.py --device cuda) -----------------------------------------
# The shapes issue #16 measures on a GPU, each ``make(lib, device)``: the model
# and the data are made on ``device``.  They are too big for the CPU table
# (`python bench/run.py` runs every workload there), so they sit in a table of
# their own; `bench/run.py NAME` still runs one on the CPU when named.

def nanogpt_b64(lib, device="cpu"):
    """nanoGPT's shakespeare-char GPT (6 layers, 6 heads, 384 wide, context 256)
    at its training batch of 64, AdamW, scaled_dot_product_attention."""
    return _gpt_train(lib, use_sdpa=True, batch=64, n_layer=6, n_head=6, n_embd=384,
                      block_size=256, device=device)


def resnet_b256(lib, device="cpu"):
    """The small CIFAR ResNet of ``resnet`` at batch 256, SGD."""
    return _sgd_image_step(lib, resnet_model(lib), 256, device)


def mlp_b4096(lib, device="cpu"):
    """The MLP 784-128-64-10 of ``mlp`` at batch 4096, SGD."""
    return _mlp_train(lib, 4096, device)


DEVICE_WORKLOADS = {
    "nanogpt_b64": (nanogpt_b64, 5, "nanoGPT shakespeare-char L6 H6 C384 T256 b64, AdamW, sdpa"),
    "resnet_b256": (resnet_b256, 5, "CIFAR ResNet 3 BasicBlocks+BN, batch 256, SGD"),
    "mlp_b4096": (mlp_b4096, 20, "MLP 784-128-64-10 train step, batch 4096, SGD"),
}


WORKLOADS = {
    "op_overhead": (op_overhead, 200, "chain of ~60 ops on 16x16 fp32, fwd+bwd"),
    "mlp": (mlp, 100, "MLP 784-128-64-10 train step, batch 128, SGD"),
    "lenet": (lenet, 10, "LeNet CNN 16/32ch train step, batch 64, Adam"),
    "cnn3d": (cnn3d, 5, "3-D CNN Conv3d 4-16-32+BN3d+MaxPool3d, 8x4x16^3, Adam"),
    "lbfgs": (lbfgs, 10, "LBFGS strong_wolfe step, max_iter 10, MLP 3-32-32-1 on 256 pts"),
    "char_lstm": (char_lstm, 10, "char LSTM LM e64 h128 seq32 b16 train step, Adam"),
    "resnet": (resnet, 3, "CIFAR ResNet 3 BasicBlocks+BN, batch 32, SGD"),
    "gpt": (gpt, 10, "char GPT L4 H4 C128 T64 b16 train step, AdamW, manual attention"),
    "gpt_sdpa": (gpt_sdpa, 10, "the same GPT with scaled_dot_product_attention"),
    "kv_decode": (kv_decode, 2, "GPT KV-cache greedy decode: prompt 16, 48 new tokens, batch 4"),
    "resnet18w": (resnet18w, 1, "ResNet-18 widths 64-512, 32x32, batch 64, SGD"),
    "nanogpt": (nanogpt, 1, "nanoGPT shakespeare-char L6 H6 C384 T256 b8, AdamW, sdpa"),
    "gpt_infer_b1": (gpt_infer_b1, 50, "small GPT no_grad forward, batch 1, 64 tokens"),
    "lenet_infer_b1": (lenet_infer_b1, 200, "LeNet no_grad forward, batch 1"),
}
