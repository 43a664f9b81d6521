"""A small cart-pole environment in NumPy for the reinforcement-learning
programs (the examples use gym's CartPole-v1): the classic equations of a
pole on a cart pushed left or right, Euler steps of 0.02 s, reward 1 per
step, done when the pole leans past 12 degrees, the cart leaves +-2.4, or
after ``max_steps``.  Deterministic given its seed and the actions."""
import math

import numpy as np


class CartPole:
    gravity, cart_mass, pole_mass, half_length, force, dt = 9.8, 1.0, 0.1, 0.5, 10.0, 0.02
    theta_limit, x_limit = 12 * 2 * math.pi / 360, 2.4

    def __init__(self, max_steps=20):
        self.max_steps = max_steps
        self.rng = np.random.default_rng(0)

    def reset(self, seed=None):
        if seed is not None:
            self.rng = np.random.default_rng(seed)
        self.state = self.rng.uniform(-0.05, 0.05, 4)
        self.steps = 0
        return self.state.copy(), {}

    def step(self, action):
        """Returns (state, reward, terminated, truncated, info) as gym does."""
        if action not in (0, 1):
            raise ValueError(f"action must be 0 or 1, got {action!r}")
        x, x_dot, theta, theta_dot = self.state
        push = self.force if action == 1 else -self.force
        total_mass = self.cart_mass + self.pole_mass
        cos, sin = math.cos(theta), math.sin(theta)
        temp = (push + self.pole_mass * self.half_length * theta_dot ** 2 * sin) / total_mass
        theta_acc = (self.gravity * sin - cos * temp) / (
            self.half_length * (4.0 / 3.0 - self.pole_mass * cos ** 2 / total_mass))
        x_acc = temp - self.pole_mass * self.half_length * theta_acc * cos / total_mass
        self.state = np.array([x + self.dt * x_dot, x_dot + self.dt * x_acc,
                               theta + self.dt * theta_dot, theta_dot + self.dt * theta_acc])
        self.steps += 1
        terminated = bool(abs(self.state[0]) > self.x_limit or abs(self.state[2]) > self.theta_limit)
        truncated = self.steps >= self.max_steps
        return self.state.copy(), 1.0, terminated, truncated, {}
