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
this script then uses stand-ins that compute what those do (see RMSNorm24 and layer_norm_without_bias),
with the same parameter names, so the checkpoint is the one a newer PyTorch would write.
Files are written with the `safetensors` package when it is installed, else with a small writer
that follows the format's specification (the metadata key "writer" says which).
"""
import json
import os
import struct

import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
SEED = 20240611
N, C, H, W = 8, 4, 5, 6
CLASSES = 3
TRAIN_STEPS = 5


class RMSNorm24(nn.Module):
    """torch.nn.RMSNorm as PyTorch 2.4 defines it: eps=None means torch.finfo(x.dtype).eps."""

    def __init__(self, normalized_shape, eps=None, elementwise_affine=True):
        super().__init__()
        self.normalized_shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
        self.eps = eps
        if elementwise_affine:
            self.weight = nn.Parameter(torch.ones(self.normalized_shape))
        else:
            self.register_parameter("weight", None)

    def forward(self, x):
        dims = tuple(range(-len(self.normalized_shape), 0))
        eps = torch.finfo(x.dtype).eps if self.eps is None else self.eps
        y = x * torch.rsqrt(x.pow(2).mean(dims, keepdim=True) + eps)
        return y if self.weight is None else y * self.weight


def rms_norm(normalized_shape):
    return nn.RMSNorm(normalized_shape) if hasattr(nn, "RMSNorm") else RMSNorm24(normalized_shape)


def layer_norm_without_bias(normalized_shape, eps):
    try:
        return nn.LayerNorm(normalized_shape, eps=eps, bias=False)  # PyTorch >= 2.1
    except TypeError:
        m = nn.LayerNorm(normalized_shape, eps=eps)
        del m.bias
        m.register_parameter("bias", None)  # F.layer_norm with bias=None: what bias=False does
        return m


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


def write_safetensors(path, tensors, metadata):
    """The format, for when the safetensors package is missing: 8-byte LE header length, JSON, raw LE bytes."""
    codes = {torch.float64: "F64", torch.float32: "F32", torch.int64: "I64"}
    order = sorted(tensors, key=lambda k: (-tensors[k].element_size(), k))
    header, blobs, offset = {"__metadata__": metadata}, [], 0
    for name in order:
        raw = tensors[name].contiguous().numpy().tobytes()
        header[name] = {"dtype": codes[tensors[name].dtype], "shape": list(tensors[name].shape), "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * ((8 - (8 + len(text)) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + b"".join(blobs))


def save(path, tensors, metadata):
    tensors = {k: v.detach().contiguous() for k, v in tensors.items()}
    try:
        import safetensors
        from safetensors.torch import save_file
    except ImportError:
        write_safetensors(path, tensors, dict(metadata, writer="make_reference.py write_safetensors"))
        return
    save_file(tensors, path, metadata=dict(metadata, writer=f"safetensors {safetensors.__version__}"))


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
        "rmsnorm": "torch.nn.RMSNorm" if hasattr(nn, "RMSNorm") else "RMSNorm24 stand-in (PyTorch < 2.4)",
        "seed": str(SEED),
    }
    save(os.path.join(HERE, "model.safetensors"), model.state_dict(), dict(metadata, format="pt"))

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
    save(os.path.join(HERE, "reference.safetensors"), ref, metadata)
    print(f"trained {TRAIN_STEPS} steps; eval logits[0] {ref['eval.logits'][0].tolist()}, train loss {loss.item():.6f}")


if __name__ == "__main__":
    main()
