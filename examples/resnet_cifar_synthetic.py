"""Train a CIFAR-style ResNet (BasicBlocks + BatchNorm) on 32x32 images, offline.

    python examples/resnet_cifar_synthetic.py [--data DIR] [--dataset mnist32|synthetic]
                                              [--depth 8] [--width 8] [--epochs 3]
                                              [--device cuda]

CIFAR-10 itself is not available offline, so the network (the one of He et
al. 2016 for CIFAR, ``ember.models.resnet``) trains on a CIFAR-sized stand-in:

* ``mnist32`` (default): the MNIST split of the other examples (first 8,000 of
  the official test digits to train, last 2,000 to test), zero-padded from
  28x28 to 32x32, one channel.  ResNet-8 at width 8 reaches ~97% in 3
  epochs (15-30 s each on a laptop CPU).
* ``synthetic``: generated 3x32x32 colour images of 10 classes (an oriented
  stripe pattern per class, with random phase, frequency, colour and noise);
  no data files needed; ~92% in 3 epochs.

``--depth 20 --width 16`` is the paper's ResNet-20 (0.27M parameters, about
8x slower).  SGD with momentum and weight decay, one-cycle learning rate.
Writes ``runs/resnet/checkpoint.ember`` and ``curves.png``.
"""
import math

import _common as C  # first: it caps BLAS threads before NumPy loads

import numpy as np

import ember as torch
import ember.nn.functional as F
from ember.models.resnet import ResNet


def synthetic_images(n, seed=0, size=32, classes=10):
    """``n`` colour images (n, 3, size, size) float32 and labels (n,) int64.

    Class k is a stripe pattern at angle ``180 * k / classes`` degrees; phase,
    frequency, per-channel colour and pixel noise are random, so the network
    must learn orientation, not memorise pixels.
    """
    rng = np.random.default_rng(seed)
    y = rng.integers(0, classes, n)
    theta = np.pi * y / classes + rng.normal(0, 0.08, n)
    freq = rng.uniform(0.25, 0.6, n)
    phase = rng.uniform(0, 2 * np.pi, n)
    r = np.arange(size, dtype=np.float32) - size / 2
    u = (np.cos(theta)[:, None, None] * r[None, None, :]
         + np.sin(theta)[:, None, None] * r[None, :, None])        # (n, H, W)
    stripes = np.sin(freq[:, None, None] * u + phase[:, None, None])
    colour = rng.uniform(0.3, 1.0, (n, 3, 1, 1)) * rng.choice([-1, 1], (n, 3, 1, 1))
    x = colour * stripes[:, None] + rng.normal(0, 1.0, (n, 3, size, size))
    return torch.from_numpy(x.astype(np.float32)), torch.from_numpy(y.astype(np.int64))


def load_data(args):
    """((x_train, y_train), (x_test, y_test)) and the number of image channels."""
    if args.dataset == "synthetic":
        n_train = args.train_size or 8000
        n_test = args.test_size or 2000
        train = synthetic_images(n_train, seed=args.seed)
        test = synthetic_images(n_test, seed=args.seed + 1)
        return train, test, 3
    train, test = C.load_mnist_split(C.data_root(args.data), args.train_size, args.test_size)
    # 28x28 -> 32x32, CIFAR's size; pad with the value of a blank (0) pixel
    blank = -C.MNIST_MEAN / C.MNIST_STD
    pad = lambda x: F.pad(x, (2, 2, 2, 2), value=blank)  # noqa: E731
    return (pad(train[0]), train[1]), (pad(test[0]), test[1]), 1


def main(argv=None):
    p = C.mnist_parser(__doc__, epochs=3, batch_size=64, lr=0.1, out="runs/resnet")
    p.add_argument("--dataset", choices=("mnist32", "synthetic"), default="mnist32")
    p.add_argument("--depth", type=int, default=8, help="6n + 2: 8, 14, 20, 32, ...")
    p.add_argument("--width", type=int, default=8, help="channels of the first stage")
    p.add_argument("--weight-decay", type=float, default=5e-4)
    args = p.parse_args(argv)
    device = C.device(args.device)
    torch.manual_seed(args.seed)
    train, test, channels = load_data(args)
    print(f"{args.dataset}: {len(train[1])} train / {len(test[1])} test images "
          f"of shape {tuple(train[0].shape[1:])}")

    model = ResNet(args.depth, num_classes=10, in_channels=channels, width=args.width)
    model.to(device)
    n_params = sum(q.numel() for q in model.parameters())
    print(f"ResNet-{args.depth} (width {args.width}): {n_params:,} parameters")
    optimizer = torch.optim.SGD(model.parameters(), lr=args.lr, momentum=0.9,
                                weight_decay=args.weight_decay, nesterov=True)
    steps_per_epoch = math.ceil(len(train[1]) / args.batch_size)
    if args.steps is not None:
        steps_per_epoch = min(steps_per_epoch, args.steps)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=args.lr, total_steps=args.epochs * steps_per_epoch)
    history = C.fit(model, optimizer, train, test, torch, args.epochs, args.batch_size,
                    seed=args.seed, steps=args.steps, scheduler=scheduler,
                    show_progress=not args.no_progress, device=device)

    print(f"test accuracy: {100 * history.last('test_acc'):.1f}%")
    C.finish(model, optimizer, history, args,
             f"ResNet-{args.depth} on {args.dataset} (32x32)")
    return history


if __name__ == "__main__":
    main()
