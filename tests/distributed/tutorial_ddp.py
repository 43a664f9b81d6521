"""A DDP script of the kind torch's tutorials teach (mp.spawn + "gloo" +
DistributedDataParallel + DistributedSampler), written for torch.  Only the
import at the top differs between the two runs the test makes: DDP_LIB=torch
runs it on torch, anything else on Ember (`import ember as torch`).
Rank 0 writes the losses and final weights to the JSON file named on the
command line.  Weights and data come from formulas, not a random generator,
so that both libraries start from the same numbers."""
import json
import os
import sys

if os.environ.get("DDP_LIB") == "torch":
    import torch
else:
    import ember as torch

dist = torch.distributed
mp = torch.multiprocessing
nn = torch.nn
DDP = torch.nn.parallel.DistributedDataParallel
DistributedSampler = torch.utils.data.distributed.DistributedSampler


def setup(rank, world_size):
    os.environ["MASTER_ADDR"] = "localhost"
    os.environ["MASTER_PORT"] = "12355"
    dist.init_process_group("gloo", rank=rank, world_size=world_size)


def cleanup():
    dist.destroy_process_group()


class ToyModel(nn.Module):
    def __init__(self):
        super().__init__()
        self.net1 = nn.Linear(10, 10)
        self.relu = nn.ReLU()
        self.net2 = nn.Linear(10, 5)

    def forward(self, x):
        return self.net2(self.relu(self.net1(x)))


def formula(n, k):
    return torch.sin(torch.arange(n, dtype=torch.float32) * 0.37 + k)


def demo_basic(rank, world_size, out_path):
    setup(rank, world_size)
    model = ToyModel()
    with torch.no_grad():
        for k, p in enumerate(model.parameters()):
            p.copy_(formula(p.numel(), k).reshape(p.shape) * 0.3 * (rank + 1))  # ranks differ: DDP syncs
    ddp_model = DDP(model)

    x = formula(40 * 10, 7).reshape(40, 10)
    y = (torch.arange(40) * 7) % 5
    dataset = torch.utils.data.TensorDataset(x, y)
    sampler = DistributedSampler(dataset, num_replicas=world_size, rank=rank, shuffle=True, seed=3)
    loader = torch.utils.data.DataLoader(dataset, batch_size=4, sampler=sampler)

    loss_fn = nn.CrossEntropyLoss()
    optimizer = torch.optim.SGD(ddp_model.parameters(), lr=0.1, momentum=0.9)
    losses = []
    for epoch in range(2):
        sampler.set_epoch(epoch)
        for xb, yb in loader:
            optimizer.zero_grad()
            loss = loss_fn(ddp_model(xb), yb)
            loss.backward()
            optimizer.step()
            total = loss.detach().clone()
            dist.all_reduce(total)
            losses.append(total.item() / world_size)
    if rank == 0:
        state = {k: v.tolist() for k, v in ddp_model.state_dict().items()}
        with open(out_path, "w") as f:
            json.dump({"losses": losses, "state": state}, f)
    cleanup()


def run_demo(demo_fn, world_size, out_path):
    mp.spawn(demo_fn, args=(world_size, out_path), nprocs=world_size, join=True)


if __name__ == "__main__":
    run_demo(demo_basic, 2, sys.argv[1])
