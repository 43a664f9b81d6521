"""Ember in one page: tensors, autograd, and a model fitted by gradient descent.

    python examples/quickstart.py

Everything here is torch's API: change the import to ``import torch`` and
the script runs the same.
"""
import ember as torch


def main():
    torch.manual_seed(0)

    # Tensors: creation, dtypes, broadcasting, views.
    a = torch.tensor([[1.0, 2.0], [3.0, 4.0]])
    b = torch.arange(2)                      # int64
    print("a + b =", a + b)                  # int64 promotes to float32
    print("a @ a.T =", a @ a.T)
    print("dtype of a * 2.5:", (b * 2.5).dtype)

    # Autograd: gradients of a scalar function.
    x = torch.tensor([0.5, -1.0, 2.0], requires_grad=True)
    y = (x ** 3 - 2 * x).sum()
    y.backward()
    print("d/dx (x^3 - 2x) =", x.grad, " expected", 3 * x.detach() ** 2 - 2)

    # Higher-order: the gradient of the gradient.
    g, = torch.autograd.grad((x ** 3).sum(), x, create_graph=True)
    gg, = torch.autograd.grad(g.sum(), x)
    print("d2/dx2 x^3 =", gg)

    # A model fitted by gradient descent: y = 3x - 1 + noise.
    X = torch.randn(200, 1)
    Y = 3 * X - 1 + 0.1 * torch.randn(200, 1)
    w = torch.zeros(1, 1, requires_grad=True)
    bias = torch.zeros(1, requires_grad=True)
    for step in range(200):
        loss = ((X @ w + bias - Y) ** 2).mean()
        w.grad = None
        bias.grad = None
        loss.backward()
        with torch.no_grad():
            w -= 0.1 * w.grad
            bias -= 0.1 * bias.grad
        if step % 50 == 0:
            print(f"step {step:3d}  loss {loss.item():.4f}")
    print(f"fitted w = {w.item():.3f} (true 3), b = {bias.item():.3f} (true -1)")


if __name__ == "__main__":
    main()
