"""What the Python generators of fastnorm's reference files share (examples/pytorch-port/make_reference.py,
test/fixtures/nn/make_semantics.py, test/fixtures/safetensors/make_fixtures.py): writing safetensors files,
and the two modules PyTorch 1.13 (Debian 12's) lacks, computed as newer PyTorch defines them.

Files are written with the `safetensors` package (Hugging Face's own tooling) when it is installed, else with
write_safetensors() below, a small writer that follows the format's specification; the metadata key "writer"
says which.
"""
import json
import struct

import torch
import torch.nn as nn

SAFETENSORS_CODES = {torch.float64: "F64", torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16", torch.int64: "I64"}


def write_safetensors(path, tensors, metadata):
    """The format: an 8-byte little-endian header length, the JSON header (padded with spaces to 8 bytes), the raw bytes."""
    order = sorted(tensors, key=lambda k: (-tensors[k].element_size(), k))
    header, blobs, offset = {"__metadata__": metadata}, [], 0
    for name in order:
        t = tensors[name].contiguous()
        raw = t.view(torch.int16).numpy().tobytes() if t.dtype in (torch.float16, torch.bfloat16) else t.numpy().tobytes()
        header[name] = {"dtype": SAFETENSORS_CODES[t.dtype], "shape": list(t.shape), "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * ((8 - (8 + len(text)) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + b"".join(blobs))


def save(path, tensors, metadata, fallback_name):
    """tensors (detached, contiguous) and string metadata to `path`, with the safetensors package if there is one."""
    tensors = {k: v.detach().contiguous() for k, v in tensors.items()}
    try:
        import safetensors
        from safetensors.torch import save_file
    except ImportError:
        write_safetensors(path, tensors, dict(metadata, writer=f"{fallback_name} write_safetensors"))
        return
    save_file(tensors, path, metadata=dict(metadata, writer=f"safetensors {safetensors.__version__}"))


class RMSNorm24(nn.Module):
    """torch.nn.RMSNorm as PyTorch 2.4 defines it: eps=None means torch.finfo(x.dtype).eps."""

    def __init__(self, normalized_shape, eps=None, elementwise_affine=True, dtype=None):
        super().__init__()
        self.normalized_shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
        self.eps = eps
        if elementwise_affine:
            self.weight = nn.Parameter(torch.ones(self.normalized_shape, dtype=dtype))
        else:
            self.register_parameter("weight", None)

    def forward(self, x):
        dims = tuple(range(-len(self.normalized_shape), 0))
        eps = torch.finfo(x.dtype).eps if self.eps is None else self.eps
        y = x * torch.rsqrt(x.pow(2).mean(dims, keepdim=True) + eps)
        return y if self.weight is None else y * self.weight


def rms_norm(normalized_shape, **kwargs):
    """torch.nn.RMSNorm where PyTorch has it (>= 2.4), else the stand-in."""
    return nn.RMSNorm(normalized_shape, **kwargs) if hasattr(nn, "RMSNorm") else RMSNorm24(normalized_shape, **kwargs)


def rms_norm_source():
    return "torch.nn.RMSNorm" if hasattr(nn, "RMSNorm") else "RMSNorm24 stand-in (PyTorch < 2.4)"


def layer_norm_without_bias(normalized_shape, **kwargs):
    """nn.LayerNorm(..., bias=False) (PyTorch >= 2.1), or a LayerNorm whose bias is removed: F.layer_norm with bias None."""
    try:
        return nn.LayerNorm(normalized_shape, bias=False, **kwargs)
    except TypeError:
        m = nn.LayerNorm(normalized_shape, **kwargs)
        del m.bias
        m.register_parameter("bias", None)
        return m
