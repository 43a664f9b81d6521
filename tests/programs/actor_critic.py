"""Actor-critic on cart-pole: one network with an action head (softmax) and a
value head, actions from ``Categorical``, the advantage ``return - value``
weighting the policy loss, smooth_l1_loss for the value, Adam.

``actions`` (optional) replays a list of actions instead of sampling them."""
from collections import namedtuple

import numpy as np

from .cartpole import CartPole

GAMMA = 0.99
SavedAction = namedtuple("SavedAction", ["log_prob", "value"])


def define(torch):
    nn, F = torch.nn, torch.nn.functional

    class Policy(nn.Module):
        def __init__(self):
            super().__init__()
            self.affine1 = nn.Linear(4, 32)
            self.action_head = nn.Linear(32, 2)        # actor
            self.value_head = nn.Linear(32, 1)         # critic
            self.saved_actions = []
            self.rewards = []

        def forward(self, x):
            x = F.relu(self.affine1(x))
            action_prob = F.softmax(self.action_head(x), dim=-1)
            state_values = self.value_head(x)
            return action_prob, state_values

    return Policy


def build(torch):
    return {"model": define(torch)()}


def make_data(seed=0, episodes=3, max_steps=20):
    return {"seed": seed, "episodes": episodes, "max_steps": max_steps}


def train(torch, models, data, actions=None):
    F = torch.nn.functional
    model = models["model"]
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-2)
    eps = np.finfo(np.float32).eps.item()
    env = CartPole(data["max_steps"])
    replay = iter(actions) if actions is not None else None
    out = {"loss": [], "policy_loss": [], "value_loss": [], "episode_reward": [], "actions": []}

    def select_action(state):
        state = torch.from_numpy(state).float()
        probs, state_value = model(state)
        m = torch.distributions.Categorical(probs)
        action = m.sample() if replay is None else torch.tensor(next(replay))
        model.saved_actions.append(SavedAction(m.log_prob(action), state_value))
        return action.item()

    def finish_episode():
        R = 0
        saved_actions = model.saved_actions
        policy_losses, value_losses, returns = [], [], []
        for r in model.rewards[::-1]:
            R = r + GAMMA * R
            returns.insert(0, R)
        returns = torch.tensor(returns)
        returns = (returns - returns.mean()) / (returns.std() + eps)
        for (log_prob, value), R in zip(saved_actions, returns):
            advantage = R - value.item()
            policy_losses.append(-log_prob * advantage)
            value_losses.append(F.smooth_l1_loss(value, torch.tensor([R])))
        optimizer.zero_grad()
        policy_loss, value_loss = torch.stack(policy_losses).sum(), torch.stack(value_losses).sum()
        loss = policy_loss + value_loss
        loss.backward()
        optimizer.step()
        del model.rewards[:]
        del model.saved_actions[:]
        return loss.item(), policy_loss.item(), value_loss.item()

    for i_episode in range(data["episodes"]):
        state, _ = env.reset(seed=data["seed"] + i_episode)
        ep_reward = 0
        for t in range(1, 10000):
            action = select_action(state)
            out["actions"].append(action)
            state, reward, terminated, truncated, _ = env.step(action)
            model.rewards.append(reward)
            ep_reward += reward
            if terminated or truncated:
                break
        for key, value in zip(("loss", "policy_loss", "value_loss"), finish_episode()):
            out[key].append(value)
        out["episode_reward"].append(ep_reward)
    return out
