"""Value: one number, the operation that produced it, and its gradient."""
import math


class Value:
    """A scalar that remembers how it was computed, so it can backpropagate.

    ``data`` is the number, ``grad`` is d(output)/d(this value) after
    ``output.backward()``.  Each operation returns a new Value whose
    ``_backward`` knows how to pass its gradient to its inputs.
    """

    __slots__ = ("data", "grad", "_backward", "_prev", "_op", "label")

    def __init__(self, data, _children=(), _op="", label=""):
        self.data = float(data)
        self.grad = 0.0
        self._backward = lambda: None   # leaves have nothing to pass on
        self._prev = tuple(_children)
        self._op = _op
        self.label = label

    # ---- operations: each sets how its output's gradient flows back -------------
    def __add__(self, other):
        other = _value(other)
        out = Value(self.data + other.data, (self, other), "+")

        def _backward():
            self.grad += out.grad
            other.grad += out.grad
        out._backward = _backward
        return out

    def __mul__(self, other):
        other = _value(other)
        out = Value(self.data * other.data, (self, other), "*")

        def _backward():
            self.grad += other.data * out.grad
            other.grad += self.data * out.grad
        out._backward = _backward
        return out

    def __pow__(self, other):
        if isinstance(other, Value):
            # a ** b with both variable: d/da = b a^(b-1), d/db = a^b ln a
            out = Value(self.data ** other.data, (self, other), "**")

            def _backward():
                self.grad += other.data * self.data ** (other.data - 1) * out.grad
                if self.data > 0:
                    other.grad += out.data * math.log(self.data) * out.grad
            out._backward = _backward
            return out
        if not isinstance(other, (int, float)):
            raise TypeError(f"unsupported exponent type {type(other).__name__}")
        out = Value(self.data ** other, (self,), f"**{other}")

        def _backward():
            self.grad += other * self.data ** (other - 1) * out.grad
        out._backward = _backward
        return out

    def __rpow__(self, other):
        return _value(other) ** self

    def exp(self):
        out = Value(math.exp(self.data), (self,), "exp")

        def _backward():
            self.grad += out.data * out.grad
        out._backward = _backward
        return out

    def log(self):
        if self.data <= 0:
            raise ValueError(f"log of a non-positive number ({self.data})")
        out = Value(math.log(self.data), (self,), "log")

        def _backward():
            self.grad += out.grad / self.data
        out._backward = _backward
        return out

    def tanh(self):
        t = math.tanh(self.data)
        out = Value(t, (self,), "tanh")

        def _backward():
            self.grad += (1 - t * t) * out.grad
        out._backward = _backward
        return out

    def relu(self):
        out = Value(self.data if self.data > 0 else 0.0, (self,), "relu")

        def _backward():
            self.grad += (1.0 if self.data > 0 else 0.0) * out.grad
        out._backward = _backward
        return out

    def sigmoid(self):
        x = self.data
        s = 1 / (1 + math.exp(-x)) if x >= 0 else math.exp(x) / (1 + math.exp(x))
        out = Value(s, (self,), "sigmoid")

        def _backward():
            self.grad += s * (1 - s) * out.grad
        out._backward = _backward
        return out

    # ---- backprop ---------------------------------------------------------------------
    def backward(self):
        """Set ``grad`` of every Value this one depends on (d self / d value).

        Gradients accumulate (+=), so a value used twice gets both
        contributions; call ``zero_grad`` on a model between steps.
        """
        order = []
        seen = set()
        stack = [(self, False)]
        while stack:                      # iterative DFS: deep graphs are fine
            v, done = stack.pop()
            if done:
                order.append(v)
                continue
            if id(v) in seen:
                continue
            seen.add(id(v))
            stack.append((v, True))
            for child in v._prev:
                if id(child) not in seen:
                    stack.append((child, False))
        self.grad = 1.0
        for v in reversed(order):          # outputs before the values they used
            v._backward()

    # ---- the rest follows from the operations above -----------------------------------
    def __neg__(self):
        return self * -1

    def __radd__(self, other):
        return self + other

    def __sub__(self, other):
        return self + (-_value(other))

    def __rsub__(self, other):
        return _value(other) + (-self)

    def __rmul__(self, other):
        return self * other

    def __truediv__(self, other):
        return self * _value(other) ** -1

    def __rtruediv__(self, other):
        return _value(other) * self ** -1

    def __repr__(self):
        return f"Value(data={self.data:.4g}, grad={self.grad:.4g})"


def _value(x):
    if isinstance(x, Value):
        return x
    if isinstance(x, (int, float)):
        return Value(x)
    raise TypeError(f"can't combine Value with {type(x).__name__}")
