"""Train a character-level LSTM language model on tiny Shakespeare, then sample.

    python examples/char_lstm.py [--data DIR] [--epochs 10] [--steps 100] [--device cuda]

Data: ``DIR/tinyshakespeare/input.txt`` (or ``--data`` naming any UTF-8
text file); the last 10% of the text is held out for validation.  Each
"epoch" is ``--steps`` batches of random ``--block-size`` windows; after it
the script reports the validation loss (nats per character; the uniform
guess is ln(65) = 4.17 for this corpus) and prints a short sample.  The
defaults (1 layer of 256, 1,000 steps; 2-4 minutes on a laptop CPU) reach
about 1.7, where the samples read like garbled Shakespeare.  Writes
``runs/char_lstm/checkpoint.ember`` (weights, optimizer, vocabulary) and
``curves.png``.
"""
import os
import sys
import time

import _common as C  # first: it caps BLAS threads before NumPy loads

import ember as torch
import ember.nn.functional as F
from ember.datasets import TextCorpus
from ember.models.lstm_lm import CharLSTM


def text_path(arg):
    """The corpus file: ``arg`` if it is a file, else ``<data root>/tinyshakespeare/input.txt``."""
    if arg and os.path.isfile(arg):
        return arg
    root = C.data_root(arg)
    path = os.path.join(root, "tinyshakespeare", "input.txt")
    if not os.path.isfile(path):
        print(f"{path} not found.  Put tiny Shakespeare (or any UTF-8 text) there, or pass "
              "--data FILE; nothing is downloaded.", file=sys.stderr)
        sys.exit(2)
    return path


def sequence_loss(logits, targets):
    """Mean cross-entropy over every position: logits (N, T, V), targets (N, T)."""
    return F.cross_entropy(logits.reshape(-1, logits.size(-1)), targets.reshape(-1))


def evaluate(model, corpus, args, generator, device, batches=8):
    """Validation loss and next-character accuracy on random windows."""
    model.eval()
    loss, correct, count = 0.0, 0, 0
    with torch.no_grad():
        for _ in range(batches):
            x, y = corpus.get_batch("val", args.batch_size, args.block_size, generator)
            x, y = x.to(device), y.to(device)
            logits, _ = model(x)
            loss += sequence_loss(logits, y).item()
            correct += (logits.argmax(-1) == y).sum().item()
            count += y.numel()
    model.train()
    return loss / batches, correct / count


def main(argv=None):
    p = C.parser(__doc__, epochs=10, batch_size=32, lr=3e-3, out="runs/char_lstm")
    p.set_defaults(steps=100)
    p.add_argument("--block-size", type=int, default=64, help="characters per window")
    p.add_argument("--hidden", type=int, default=256, help="LSTM state size")
    p.add_argument("--layers", type=int, default=1, help="stacked LSTM layers")
    p.add_argument("--text-size", type=int, default=None,
                   help="use only the first N characters of the corpus (quick runs)")
    p.add_argument("--sample", type=int, default=200, help="characters to sample per epoch")
    args = p.parse_args(argv)
    device = C.device(args.device)
    torch.manual_seed(args.seed)
    gen = torch.Generator().manual_seed(args.seed)   # batches are drawn on the CPU
    # sampling runs where the model is, and a generator must be on that device
    sample_gen = gen if device.type == "cpu" else \
        torch.Generator(device=device).manual_seed(args.seed)

    path = text_path(args.data)
    with open(path, encoding="utf-8") as f:
        text = f.read()[:args.text_size]
    corpus = TextCorpus.from_text(text, val_fraction=0.1)
    V = corpus.vocab_size
    print(f"{path}: {len(text):,} characters, vocabulary of {V}")

    model = CharLSTM(V, embed_dim=64, hidden_size=args.hidden, num_layers=args.layers).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer,
                                                           T_max=args.epochs * args.steps)
    history = C.History()
    for epoch in range(1, args.epochs + 1):
        t0 = time.perf_counter()
        total = 0.0
        bar = C.progress(range(args.steps), f"epoch {epoch}/{args.epochs}",
                         not args.no_progress)
        for step in bar:
            x, y = corpus.get_batch("train", args.batch_size, args.block_size, gen)
            logits, _ = model(x.to(device))
            y = y.to(device)
            loss = sequence_loss(logits, y)
            optimizer.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)  # LSTMs like clipping
            optimizer.step()
            scheduler.step()
            total += loss.item()
            bar.set_postfix(loss=f"{total / (step + 1):.3f}", refresh=False)
        bar.close()
        val_loss, val_acc = evaluate(model, corpus, args, gen, device)
        history.add(epoch=epoch, train_loss=total / args.steps, val_loss=val_loss,
                    val_acc=val_acc, seconds=time.perf_counter() - t0)
        print(C.History.format(history.rows[-1]))
        prompt = torch.tensor([corpus.tokenizer.encode(text[0])], device=device)
        sample = model.generate(prompt, args.sample, temperature=0.8, generator=sample_gen)
        print("  sample: " + corpus.tokenizer.decode(sample[0]).replace("\n", "\n          "))

    ckpt = C.save_checkpoint(os.path.join(args.out, "checkpoint.ember"), model, optimizer,
                             vocab=corpus.tokenizer.chars, history=history.as_dict(),
                             args=vars(args))
    png = C.plot_curves(history, os.path.join(args.out, "curves.png"),
                        f"char-LSTM on {os.path.basename(path)}")
    print(f"validation loss: {history.last('val_loss'):.3f} nats/char")
    print(f"checkpoint: {ckpt}")
    print(f"curves: {png}")
    return history


if __name__ == "__main__":
    main()
