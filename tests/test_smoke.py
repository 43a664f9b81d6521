import numpy as np

from helpers import check, rand


def test_mul_add_broadcast_grad():
    check(lambda L, a, b: a * b + a, rand(3, 4), rand(4, seed=1))


def test_matmul_batched_broadcast():
    check(lambda L, a, b: a @ b, rand(2, 3, 4), rand(4, 5, seed=1))
    check(lambda L, a, b: a @ b, rand(4), rand(2, 4, 5, seed=1))
    check(lambda L, a, b: a @ b, rand(2, 3, 4), rand(4, seed=1))
    check(lambda L, a, b: a @ b, rand(4), rand(4, seed=1))
