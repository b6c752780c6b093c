"""Builds the PyTorch side of examples/pytorch-port: a small model with every normalization layer,
trained a few steps, saved as a checkpoint, and its outputs and gradients on one batch.

    python3 examples/pytorch-port/make_reference.py     # needs PyTorch (Debian: apt-get install python3-torch)

Writes next to this script (both files are committed, so the Node side needs no Python):
  model.safetensors      the trained model's state dict, exactly as model.state_dict() holds it
  reference.safetensors  one batch (x, target) and what PyTorch computes on it:
                         eval.logits                    model.eval()(x)
                         train.logits, train.loss       model.train()(x) and its cross-entropy
                         train.dx, grad.<parameter>     the gradients of train.loss (one backward)
                         after.<buffer>                 the running statistics after that training forward

PyTorch 1.13 (Debian 12's) has neither torch.nn.RMSNorm (2.4) nor LayerNorm(bias=False) (2.1):
this script then uses stand-ins that compute what those do (scripts/pytorch_reference.py), with the
same parameter names, so the checkpoint is the one a newer PyTorch would write. Files are written
with the `safetensors` package when it is installed, else with a small writer that follows the
format's specification (the metadata key "writer" says which).
"""
import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "scripts"))
from pytorch_reference import layer_norm_without_bias, rms_norm, rms_norm_source, save  # noqa: E402
SEED = 20240611
N, C, H, W = 8, 4, 5, 6
CLASSES = 3
TRAIN_STEPS = 5


class PortModel(nn.Module):
    """Every norm layer of fastnorm/nn, each with different options, between a few plain layers."""

    def __init__(self):
        super().__init__()
        self.bn2d = nn.BatchNorm2d(C)
        self.gn = nn.GroupNorm(2, C)
        self.in2d = nn.InstanceNorm2d(C, affine=True, track_running_stats=True)
        self.bn1d_cma = nn.BatchNorm1d(C, momentum=None)  # cumulative moving average
        self.in1d = nn.InstanceNorm1d(C)  # PyTorch's defaults: no affine, no running stats
        self.bn3d = nn.BatchNorm3d(C, affine=False)
        self.in3d = nn.InstanceNorm3d(C, affine=True)
        self.ln = nn.LayerNorm(H * W)
        self.rms = rms_norm(H * W)
        self.ln_nobias = layer_norm_without_bias([C, H * W], eps=1e-6)
        self.fc1 = nn.Linear(C * H * W, 16)
        self.bn1d = nn.BatchNorm1d(16)
        self.fc2 = nn.Linear(16, 16)
        self.bn_batchstats = nn.BatchNorm1d(16, track_running_stats=False)  # batch statistics in eval too
        self.ln_noaffine = nn.LayerNorm(16, elementwise_affine=False)
        self.fc3 = nn.Linear(16, CLASSES)

    def forward(self, x):
        n = x.shape[0]
        h = torch.relu(self.in2d(self.gn(self.bn2d(x))))
        h = self.in1d(self.bn1d_cma(h.reshape(n, C, H * W)))
        h = self.in3d(self.bn3d(h.reshape(n, C, H, 2, W // 2)))
        h = self.ln_nobias(self.rms(self.ln(h.reshape(n, C, H * W))))
        h = torch.relu(self.bn1d(self.fc1(h.reshape(n, C * H * W))))
        h = self.ln_noaffine(torch.relu(self.bn_batchstats(self.fc2(h))))
        return self.fc3(h)


def batch(generator):
    x = torch.randn(N, C, H, W, generator=generator) * 2 + 0.5
    target = torch.randint(0, CLASSES, (N,), generator=generator)
    return x, target


def main():
    torch.manual_seed(SEED)
    generator = torch.Generator().manual_seed(SEED)
    model = PortModel()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    for _ in range(TRAIN_STEPS):
        x, target = batch(generator)
        optimizer.zero_grad()
        F.cross_entropy(model(x), target).backward()
        optimizer.step()

    metadata = {
        "torch": torch.__version__,
        "rmsnorm": rms_norm_source(),
        "seed": str(SEED),
    }
    save(os.path.join(HERE, "model.safetensors"), model.state_dict(), dict(metadata, format="pt"), "make_reference.py")

    x, target = batch(generator)
    ref = {"x": x, "target": target}
    model.eval()
    with torch.no_grad():
        ref["eval.logits"] = model(x)
    model.train()
    model.zero_grad(set_to_none=True)  # the gradients of this one backward, not added to the last step's
    xg = x.clone().requires_grad_(True)
    logits = model(xg)
    loss = F.cross_entropy(logits, target)
    loss.backward()
    ref["train.logits"] = logits
    ref["train.loss"] = loss
    ref["train.dx"] = xg.grad
    for name, p in model.named_parameters():
        ref[f"grad.{name}"] = p.grad
    for name, b in model.named_buffers():
        ref[f"after.{name}"] = b
    save(os.path.join(HERE, "reference.safetensors"), ref, metadata, "make_reference.py")
    print(f"trained {TRAIN_STEPS} steps; eval logits[0] {ref['eval.logits'][0].tolist()}, train loss {loss.item():.6f}")


if __name__ == "__main__":
    main()
