"""PyTorch CPU peer of the fastnorm benchmark: a long-lived process, so Python and torch start
once per run and never inside a timed sample. `torch_peer.py THREADS`: one process per thread
count, set once (switching torch.set_num_threads between samples makes the first parallel region
after each switch cost milliseconds here, which would be timed).

Protocol: one JSON object per line on stdin, one JSON reply per line on stdout.
  {"cmd": "hello"}                        -> {"ok": true, "torch": "1.13.0", ...}
  {"cmd": "setup", "spec": {...}, "inputs": {name: file}}
                                          -> {"ok": true, "impls": [...]}   (or "skip": reason)
  {"cmd": "time", "impl": I, "inner": K}
                                          -> {"ok": true, "seconds": per-call seconds of K calls}
  {"cmd": "result", "impl": I, "prefix": P} -> {"ok": true, "outputs": {name: file}}  (for the check)
  {"cmd": "drop"}                         -> {"ok": true}  (frees the scenario's tensors)
Inputs arrive as raw little-endian float32 files written by the Node side, so both sides time
the very same numbers. Tensors are in fastnorm's layout: NHWC data becomes a channels_last view.

Every scenario offers several implementations ("impls"): the public F.* call, the autograd
backward (graph built once, retained), and the ATen kernels called directly, functional and
`.out` with reused outputs. The Node side times them all interleaved and reports the fastest.
"""
import json
import os
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

aten = torch.ops.aten


def load(path, shape):
    return torch.from_numpy(np.fromfile(path, dtype=np.float32).reshape(shape))


def save(tensor, path):
    tensor.detach().contiguous().numpy().astype(np.float32).tofile(path)


class Case:
    """One scenario: its tensors and a dict impl name -> zero-argument callable."""

    def __init__(self, spec, files):
        self.spec = spec
        self.impls = {}
        self.outputs = {}  # impl -> callable returning {name: tensor in fastnorm's layout}
        op = spec["op"]
        getattr(self, "setup_" + op)(spec, files)

    # ---- helpers --------------------------------------------------------------------------
    def channel_tensor(self, spec, files, name):
        """A (N, C, *spatial) tensor from data in the scenario's layout (NHWC -> channels_last)."""
        nchw = spec["nchw"]
        if spec["layout"] == "NHWC":
            n, c, *spatial = nchw
            t = load(files[name], [n, *spatial, c])
            return t.permute(0, t.dim() - 1, *range(1, t.dim() - 1))  # channels_last strides
        return load(files[name], nchw)

    def to_layout(self, t):
        """An NCHW-indexed tensor back in the scenario's layout, for the output check."""
        if self.spec["layout"] == "NHWC":
            return t.permute(0, *range(2, t.dim()), 1)
        return t

    def add(self, name, fn, outputs):
        self.impls[name] = fn
        self.outputs[name] = outputs

    def add_autograd(self, name, forward, leaves, grad_out, names):
        """Autograd backward: forward once with a retained graph, time autograd.grad alone."""
        with torch.enable_grad():
            y = forward(*leaves)
        state = {}

        def run():
            state["g"] = torch.autograd.grad(y, leaves, grad_out, retain_graph=True)

        def outputs():
            run()
            return {n: (self.to_layout(g) if n == "dx" else g) for n, g in zip(names, state["g"])}

        self.add(name, run, outputs)

    # ---- LayerNorm / RMSNorm over the last dim of [rows, cols] ----------------------------------
    def setup_layerNorm(self, spec, files):
        rows, cols = spec["shape"]
        eps = spec["eps"]
        x = load(files["x"], [rows, cols])
        w = load(files["weight"], [cols])
        b = load(files["bias"], [cols])
        self.to_layout = lambda t: t
        if spec["dir"] == "forward":
            self.add("F.layer_norm", lambda: F.layer_norm(x, (cols,), w, b, eps),
                     lambda: {"y": F.layer_norm(x, (cols,), w, b, eps)})
            self.add("aten.native_layer_norm", lambda: aten.native_layer_norm(x, [cols], w, b, eps),
                     lambda: {"y": aten.native_layer_norm(x, [cols], w, b, eps)[0]})
            outs = (torch.empty_like(x), torch.empty(rows, 1), torch.empty(rows, 1))
            run = lambda: aten.native_layer_norm.out(x, [cols], w, b, eps, out0=outs[0], out1=outs[1], out2=outs[2])
            self.add("aten.native_layer_norm.out", run, lambda: {"y": run()[0]})
            return
        dy = load(files["dy"], [rows, cols])
        _, mean, rstd = aten.native_layer_norm(x, [cols], w, b, eps)
        mask = [True, True, True]
        run = lambda: aten.native_layer_norm_backward(dy, x, [cols], mean, rstd, w, b, mask)
        self.add("aten.native_layer_norm_backward", run, lambda: dict(zip(("dx", "dweight", "dbias"), run())))
        outs = (torch.empty_like(x), torch.empty_like(w), torch.empty_like(b))
        run_out = lambda: aten.native_layer_norm_backward.out(dy, x, [cols], mean, rstd, w, b, mask,
                                                              out0=outs[0], out1=outs[1], out2=outs[2])
        self.add("aten.native_layer_norm_backward.out", run_out,
                 lambda: dict(zip(("dx", "dweight", "dbias"), run_out())))
        leaves = [x.clone().requires_grad_(), w.clone().requires_grad_(), b.clone().requires_grad_()]
        self.add_autograd("autograd(F.layer_norm)", lambda xx, ww, bb: F.layer_norm(xx, (cols,), ww, bb, eps),
                          leaves, dy, ("dx", "dweight", "dbias"))

    def setup_rmsNorm(self, spec, files):
        # PyTorch 1.13 has no RMSNorm op: this is the composite every port writes (the
        # Hugging Face Llama formulation), backward through autograd.
        rows, cols = spec["shape"]
        eps = spec["eps"]
        x = load(files["x"], [rows, cols])
        w = load(files["weight"], [cols])
        self.to_layout = lambda t: t

        def rms(xx, ww):
            return ww * (xx * torch.rsqrt(xx.pow(2).mean(-1, keepdim=True) + eps))

        if spec["dir"] == "forward":
            self.add("composite x*rsqrt(mean(x²)+eps)*w", lambda: rms(x, w), lambda: {"y": rms(x, w)})
            return
        dy = load(files["dy"], [rows, cols])
        leaves = [x.clone().requires_grad_(), w.clone().requires_grad_()]
        self.add_autograd("autograd(composite)", rms, leaves, dy, ("dx", "dweight"))

    # ---- GroupNorm / InstanceNorm -------------------------------------------------------------
    def group_norm_impls(self, x, w, b, groups, eps, tag=""):
        n, c = x.shape[0], x.shape[1]
        hw = x[0, 0].numel()
        spec = self.spec
        if spec["dir"] == "forward":
            self.add(f"F.group_norm{tag}", lambda: F.group_norm(x, groups, w, b, eps),
                     lambda: {"y": self.to_layout(F.group_norm(x, groups, w, b, eps))})
            run = lambda: aten.native_group_norm(x, w, b, n, c, hw, groups, eps)
            self.add(f"aten.native_group_norm{tag}", run, lambda: {"y": self.to_layout(run()[0])})
            return
        dy = self.dy
        _, mean, rstd = aten.native_group_norm(x, w, b, n, c, hw, groups, eps)
        mask = [True, True, True]
        run = lambda: aten.native_group_norm_backward(dy, x, mean, rstd, w, n, c, hw, groups, mask)
        names = ("dx", "dweight", "dbias")
        outputs = lambda: {k: (self.to_layout(v) if k == "dx" else v) for k, v in zip(names, run())}
        self.add(f"aten.native_group_norm_backward{tag}", run, outputs)
        leaves = [x.detach().clone(memory_format=torch.preserve_format).requires_grad_(),
                  w.clone().requires_grad_(), b.clone().requires_grad_()]
        self.add_autograd(f"autograd(F.group_norm){tag}", lambda xx, ww, bb: F.group_norm(xx, groups, ww, bb, eps),
                          leaves, dy, names)

    def setup_groupNorm(self, spec, files):
        x = self.channel_tensor(spec, files, "x")
        if spec["dir"] == "backward":
            self.dy = self.channel_tensor(spec, files, "dy")
        c = spec["nchw"][1]
        w = load(files["weight"], [c])
        b = load(files["bias"], [c])
        self.group_norm_impls(x, w, b, spec["groups"], spec["eps"])

    def setup_instanceNorm(self, spec, files):
        # F.instance_norm (batch_norm over a [1, N*C, ...] view) and GroupNorm with G = C, the
        # same computation through another kernel: a PyTorch user can write either.
        x = self.channel_tensor(spec, files, "x")
        c = spec["nchw"][1]
        eps = spec["eps"]
        w = load(files["weight"], [c])
        b = load(files["bias"], [c])
        if spec["dir"] == "forward":
            fwd = lambda: F.instance_norm(x, None, None, w, b, True, 0.1, eps)
            self.add("F.instance_norm", fwd, lambda: {"y": self.to_layout(fwd())})
        else:
            self.dy = self.channel_tensor(spec, files, "dy")
            leaves = [x.detach().clone(memory_format=torch.preserve_format).requires_grad_(),
                      w.clone().requires_grad_(), b.clone().requires_grad_()]
            self.add_autograd("autograd(F.instance_norm)",
                              lambda xx, ww, bb: F.instance_norm(xx, None, None, ww, bb, True, 0.1, eps),
                              leaves, self.dy, ("dx", "dweight", "dbias"))
        self.group_norm_impls(x, w, b, c, eps, tag=" G=C")

    # ---- BatchNorm ----------------------------------------------------------------------------
    def setup_batchNorm(self, spec, files):
        x = self.channel_tensor(spec, files, "x")
        c = spec["nchw"][1]
        eps, momentum = spec["eps"], spec["momentum"]
        w = load(files["weight"], [c])
        b = load(files["bias"], [c])
        rm0 = load(files["runningMean"], [c])
        rv0 = load(files["runningVar"], [c])
        d = spec["dir"]
        if d in ("train fwd", "eval fwd"):
            training = d == "train fwd"
            # Training updates the running statistics in place: every call gets the same kind
            # of work; the check uses fresh copies (one call from the initial values).
            rm, rv = rm0.clone(), rv0.clone()

            def fresh():
                rm.copy_(rm0)
                rv.copy_(rv0)

            f = lambda: F.batch_norm(x, rm, rv, w, b, training, momentum, eps)
            self.add("F.batch_norm", f, lambda: (fresh(), {"y": self.to_layout(f())})[1])
            run = lambda: aten.native_batch_norm(x, w, b, rm, rv, training, momentum, eps)
            self.add("aten.native_batch_norm", run, lambda: (fresh(), {"y": self.to_layout(run()[0])})[1])
            # (aten.native_batch_norm.out has no CPU kernel in 1.13)
            return
        dy = self.channel_tensor(spec, files, "dy")
        _, save_mean, save_invstd = aten.native_batch_norm(x, w, b, rm0.clone(), rv0.clone(), True, momentum, eps)
        mask = [True, True, True]
        names = ("dx", "dweight", "dbias")
        run = lambda: aten.native_batch_norm_backward(dy, x, w, None, None, save_mean, save_invstd, True, eps, mask)
        self.add("aten.native_batch_norm_backward", run,
                 lambda: {k: (self.to_layout(v) if k == "dx" else v) for k, v in zip(names, run())})
        outs = (torch.empty_like(x), torch.empty(c), torch.empty(c))
        run_out = lambda: aten.native_batch_norm_backward.out(dy, x, w, None, None, save_mean, save_invstd, True, eps,
                                                              mask, out0=outs[0], out1=outs[1], out2=outs[2])
        self.add("aten.native_batch_norm_backward.out", run_out,
                 lambda: {k: (self.to_layout(v) if k == "dx" else v) for k, v in zip(names, run_out())})
        rm, rv = rm0.clone(), rv0.clone()
        leaves = [x.detach().clone(memory_format=torch.preserve_format).requires_grad_(),
                  w.clone().requires_grad_(), b.clone().requires_grad_()]
        self.add_autograd("autograd(F.batch_norm)",
                          lambda xx, ww, bb: F.batch_norm(xx, rm, rv, ww, bb, True, momentum, eps),
                          leaves, dy, names)


def mode_for(impl):
    return torch.enable_grad() if impl.startswith("autograd") else torch.inference_mode()


def cpu_capability():
    for line in torch.__config__.show().splitlines():
        if "CPU capability usage" in line:
            return line.split(":", 1)[1].strip()
    return None


def main():
    torch.set_num_threads(int(sys.argv[1]))
    out = sys.stdout
    case = None
    for line in sys.stdin:
        if not line.strip():
            continue
        req = json.loads(line)
        cmd = req["cmd"]
        try:
            if cmd == "hello":
                reply = {"ok": True, "torch": torch.__version__, "python": sys.version.split()[0],
                         "capability": cpu_capability(), "threads": torch.get_num_threads()}
            elif cmd == "setup":
                case = None
                with torch.inference_mode(False), torch.no_grad():
                    case = Case(req["spec"], req["inputs"])
                reply = {"ok": True, "impls": list(case.impls)}
            elif cmd == "time":
                fn = case.impls[req["impl"]]
                inner = req["inner"]
                # inference_mode: the fastest no-grad mode, what a PyTorch inference server uses
                with mode_for(req["impl"]):
                    t0 = time.perf_counter_ns()
                    for _ in range(inner):
                        fn()
                    dt = time.perf_counter_ns() - t0
                reply = {"ok": True, "seconds": dt / inner / 1e9}
            elif cmd == "result":
                prefix = req["prefix"]
                with mode_for(req["impl"]):
                    outputs = case.outputs[req["impl"]]()
                files = {}
                for name, t in outputs.items():
                    files[name] = f"{prefix}.{name}.f32"
                    save(t, files[name])
                reply = {"ok": True, "outputs": files}
            elif cmd == "drop":
                case = None
                reply = {"ok": True}
            else:
                reply = {"ok": False, "error": f"unknown command {cmd}"}
        except Exception as e:  # reported to the Node side, which skips the scenario with a note
            reply = {"ok": False, "error": f"{type(e).__name__}: {e}"}
        out.write(json.dumps(reply) + "\n")
        out.flush()


if __name__ == "__main__":
    main()
