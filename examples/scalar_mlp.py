"""Backpropagation on single numbers: train ember.scalar's MLP on two moons.

    python examples/scalar_mlp.py [--epochs 40]

``ember.scalar.Value`` is a scalar autograd engine in one readable page;
its ``MLP`` is built from ``Neuron``s made of ``Value``s.  This trains a
2-16-16-1 network as a binary classifier with the SVM (hinge) loss plus L2
regularisation, by full-batch gradient descent with a decaying step, on a
toy two-moons data set generated here (no data files needed).  Expect 99-100%
training accuracy after ~40 epochs (a minute or so: every multiply is
a Python object).  Writes ``runs/scalar_mlp/checkpoint.ember``
(the weights, as a tensor) and ``curves.png``.
"""
import math
import os
import random

import _common as C  # first: it caps BLAS threads before NumPy loads

import numpy as np

from ember.scalar import MLP, Value


def make_moons(n, noise=0.1, seed=0):
    """Two interleaving half circles: points (n, 2) and labels in {-1, +1}."""
    rng = np.random.default_rng(seed)
    half = n // 2
    t = rng.uniform(0, math.pi, n)
    upper = np.stack([np.cos(t[:half]), np.sin(t[:half])], 1)
    lower = np.stack([1 - np.cos(t[half:]), 0.5 - np.sin(t[half:])], 1)
    X = np.concatenate([upper, lower]) + rng.normal(0, noise, (n, 2))
    y = np.concatenate([np.ones(half), -np.ones(n - half)])
    return X, y


def loss_and_accuracy(model, X, y, alpha=1e-4):
    """Mean hinge loss ``max(0, 1 - y * score)`` + ``alpha * |w|^2``, and accuracy."""
    scores = [model([Value(a), Value(b)]) for a, b in X]
    hinge = [(1 + -yi * s).relu() for yi, s in zip(y, scores)]
    data_loss = sum(hinge, Value(0.0)) * (1.0 / len(hinge))
    reg = alpha * sum((p * p for p in model.parameters()), Value(0.0))
    acc = sum((s.data > 0) == (yi > 0) for yi, s in zip(y, scores)) / len(y)
    return data_loss + reg, acc


def main(argv=None):
    p = C.parser(__doc__, epochs=40, batch_size=0, lr=1.0, out="runs/scalar_mlp", device=False)
    p.add_argument("--points", type=int, default=100, help="size of the toy data set")
    args = p.parse_args(argv)
    X, y = make_moons(args.points, seed=args.seed)
    model = MLP(2, [16, 16, 1], rng=random.Random(args.seed))
    print(f"{model.__class__.__name__} with {len(model.parameters())} scalar parameters, "
          f"{len(y)} points")

    history = C.History()
    epochs = min(args.epochs, args.steps) if args.steps else args.epochs  # a step is an epoch
    bar = C.progress(range(1, epochs + 1), "training", not args.no_progress)
    for epoch in bar:
        loss, acc = loss_and_accuracy(model, X, y)
        model.zero_grad()
        loss.backward()
        lr = args.lr * (1.0 - 0.9 * (epoch - 1) / epochs)  # linear decay
        for param in model.parameters():
            param.data -= lr * param.grad
        history.add(epoch=epoch, train_loss=loss.data, train_acc=acc)
        bar.set_postfix(loss=f"{loss.data:.4f}", acc=f"{100 * acc:.0f}%")
        bar.write(C.History.format(history.rows[-1]))   # (above the bar, not through it)
    bar.close()

    import ember
    weights = ember.tensor([q.data for q in model.parameters()])
    ckpt = os.path.join(args.out, "checkpoint.ember")
    os.makedirs(args.out, exist_ok=True)
    ember.save({"parameters": weights, "sizes": [2, 16, 16, 1], "history": history.as_dict()},
               ckpt)
    png = C.plot_curves(history, os.path.join(args.out, "curves.png"),
                        "ember.scalar MLP 2-16-16-1 on two moons")
    print(f"train accuracy: {100 * history.last('train_acc'):.1f}%")
    print(f"checkpoint: {ckpt}")
    print(f"curves: {png}")
    return history


if __name__ == "__main__":
    main()
