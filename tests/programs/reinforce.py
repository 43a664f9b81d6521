"""REINFORCE on cart-pole: a two-layer policy with dropout and a softmax,
actions sampled from ``torch.distributions.Categorical``, the log-probability
of each kept, discounted returns normalised with an epsilon, and the loss
``-log_prob * return`` summed over the episode, Adam.

``actions`` (optional) replays a list of actions instead of sampling them,
so that a second library can follow the episodes the first one sampled."""
from collections import deque

import numpy as np

from .cartpole import CartPole

GAMMA = 0.99


def define(torch):
    nn, F = torch.nn, torch.nn.functional

    class Policy(nn.Module):
        def __init__(self, dropout=0.6):
            super().__init__()
            self.affine1 = nn.Linear(4, 32)
            self.dropout = nn.Dropout(p=dropout)
            self.affine2 = nn.Linear(32, 2)
            self.saved_log_probs = []
            self.rewards = []

        def forward(self, x):
            x = self.affine1(x)
            x = self.dropout(x)
            x = F.relu(x)
            action_scores = self.affine2(x)
            return F.softmax(action_scores, dim=1)

    return Policy


def build(torch, dropout=0.0):
    return {"policy": define(torch)(dropout)}


def make_data(seed=0, episodes=3, max_steps=20):
    return {"seed": seed, "episodes": episodes, "max_steps": max_steps}


def train(torch, models, data, actions=None):
    policy = models["policy"]
    optimizer = torch.optim.Adam(policy.parameters(), lr=1e-2)
    eps = np.finfo(np.float32).eps.item()
    env = CartPole(data["max_steps"])
    replay = iter(actions) if actions is not None else None
    out = {"policy_loss": [], "episode_reward": [], "running_reward": [], "actions": []}

    def select_action(state):
        state = torch.from_numpy(state).float().unsqueeze(0)
        probs = policy(state)
        m = torch.distributions.Categorical(probs)
        action = m.sample() if replay is None else torch.tensor([next(replay)])
        policy.saved_log_probs.append(m.log_prob(action))
        return action.item()

    def finish_episode():
        R = 0
        returns = deque()
        for r in policy.rewards[::-1]:
            R = r + GAMMA * R
            returns.appendleft(R)
        returns = torch.tensor(returns)
        returns = (returns - returns.mean()) / (returns.std() + eps)
        policy_loss = [-log_prob * R for log_prob, R in zip(policy.saved_log_probs, returns)]
        optimizer.zero_grad()
        policy_loss = torch.cat(policy_loss).sum()
        policy_loss.backward()
        optimizer.step()
        del policy.rewards[:]
        del policy.saved_log_probs[:]
        return policy_loss.item()

    running_reward = 10
    for i_episode in range(data["episodes"]):
        state, _ = env.reset(seed=data["seed"] + i_episode)
        ep_reward = 0
        for t in range(1, 10000):
            action = select_action(state)
            out["actions"].append(action)
            state, reward, terminated, truncated, _ = env.step(action)
            policy.rewards.append(reward)
            ep_reward += reward
            if terminated or truncated:
                break
        running_reward = 0.05 * ep_reward + (1 - 0.05) * running_reward
        out["policy_loss"].append(finish_episode())
        out["episode_reward"].append(ep_reward)
        out["running_reward"].append(running_reward)
    return out
