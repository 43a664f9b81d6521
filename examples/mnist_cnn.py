"""Train LeNet-5 (two 5x5 convolutions, max-pooling, linear head) on MNIST.

    python examples/mnist_cnn.py [--data DIR] [--epochs 8] [--device cuda]

Data: the 10,000 official MNIST test digits (``t10k-*`` IDX files), split
into the first 8,000 to train and the last 2,000 to test.  Expect 98.5-99%
test accuracy.  The learning rate follows a one-cycle schedule (warm up,
then anneal), which gets there in few epochs.  Writes
``runs/mnist_cnn/checkpoint.ember`` and ``curves.png``.
"""
import math

import _common as C  # first: it caps BLAS threads before NumPy loads

import ember as torch
from ember.models.lenet import LeNet5


def main(argv=None):
    args = C.mnist_parser(__doc__, epochs=8, batch_size=64, lr=3e-3,
                          out="runs/mnist_cnn").parse_args(argv)
    device = C.device(args.device)
    torch.manual_seed(args.seed)
    train, test = C.load_mnist_split(C.data_root(args.data), args.train_size, args.test_size)
    print(f"MNIST: {len(train[1])} train / {len(test[1])} test digits")

    model = LeNet5(num_classes=10).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)
    steps_per_epoch = math.ceil(len(train[1]) / args.batch_size)
    if args.steps is not None:
        steps_per_epoch = min(steps_per_epoch, args.steps)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=args.lr, total_steps=args.epochs * steps_per_epoch)
    history = C.fit(model, optimizer, train, test, torch, args.epochs, args.batch_size,
                    seed=args.seed, steps=args.steps, scheduler=scheduler,
                    show_progress=not args.no_progress, device=device)

    print(f"test accuracy: {100 * history.last('test_acc'):.1f}%")
    C.finish(model, optimizer, history, args, "LeNet-5 on MNIST (8k train / 2k test)")
    return history


if __name__ == "__main__":
    main()
