"""Ember's demo (``make demo``): train a CNN on real MNIST digits, offline.

    python examples/demo.py [--data DIR] [--device cuda]

LeNet-5 learns from the first 8,000 of the 10,000 official MNIST test digits
and is scored on the last 2,000, which it never sees during training.  It
takes well under a minute on a laptop CPU (two cores are plenty) and lands
around 98-99% test accuracy.  The data folder comes from ``--data``, else
``$EMBER_DATA``, else ``../shared/data``; nothing is downloaded.

Every line below the imports is also valid PyTorch: replace
``import ember as torch`` with ``import torch`` and it runs the same.
"""
import math
import time

import _common as C  # first: it caps BLAS threads before NumPy loads

import ember as torch
from ember.models.lenet import LeNet5


def main(argv=None):
    args = C.mnist_parser(__doc__, epochs=8, batch_size=64, lr=3e-3,
                          out="runs/demo").parse_args(argv)
    device = C.device(args.device)
    start = time.perf_counter()
    torch.manual_seed(args.seed)
    train, test = C.load_mnist_split(C.data_root(args.data), args.train_size, args.test_size)
    print(f"MNIST: training LeNet-5 on {len(train[1])} digits, testing on {len(test[1])}")

    model = LeNet5().to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)
    steps_per_epoch = math.ceil(len(train[1]) / args.batch_size)
    if args.steps is not None:
        steps_per_epoch = min(steps_per_epoch, args.steps)
    # One-cycle: warm the learning rate up, then anneal it to ~0.  Reaches
    # ~98% in a handful of epochs where a constant rate needs more.
    scheduler = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=args.lr, total_steps=args.epochs * steps_per_epoch)
    history = C.fit(model, optimizer, train, test, torch, args.epochs, args.batch_size,
                    seed=args.seed, steps=args.steps, scheduler=scheduler,
                    show_progress=not args.no_progress, device=device)

    C.finish(model, optimizer, history, args, "LeNet-5 on MNIST (8k train / 2k test)")
    print(f"trained in {time.perf_counter() - start:.0f} s")
    print(f"test accuracy: {100 * history.last('test_acc'):.1f}%")
    return history


if __name__ == "__main__":
    main()
