"""Emit snn_model.h / snn_model.c for a quantized (or, with ``float_mode``, float) graph.

Each graph node becomes one call of a runtime kernel (runtime/snn_kernels.c, copied
in: one function per layer type) with literal-constant sizes, on statically allocated
buffers. Nodes that depend only on the analog input are computed once per input, in
``snn_set_input``; the rest once per step, in ``snn_tick``. The persistent state
(membranes, max-pool counts) is one struct, ``snn_state_t``. With synaptic delay 1
(docs/design.md §3) each population that feeds others also keeps its spikes there
(``d_<name>``), copied from its output buffer at the end of each step: what its
consumers read in the next step (in the state, so that a trace that interleaves samples
keeps each sample's own).
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from importlib import resources

import numpy as np

from ...errors import ConversionError, UnsupportedLayerError
from ...ir import Graph, ResetMode
from ...ir import nodes as n
from ...ir.facts import consumers, static_nodes, traced_nodes
from ...ir.quant import if_thresholds
from ...ir.registry import Registry
from ...quantize.spec import _check_avgpool
from ..names import symbols

RUNTIME = "ann2snn.backends.c.runtime"
#: node type -> the Emitter method that writes its C (``handler(emitter, node)``)
C_OPS: Registry = Registry("the C backend")


def runtime_text(name: str) -> str:
    return resources.files(RUNTIME).joinpath(name).read_text("utf-8")


def kernel_sections() -> dict[str, str]:
    text = runtime_text("snn_kernels.c")
    return {m.group(1): m.group(2).strip("\n") for m in
            re.finditer(r"/\* @@kernel (\w+) \*/\n(.*?)/\* @@end \*/", text, re.S)}


def _chw(shape: tuple[int, ...]) -> tuple[int, int, int]:
    if len(shape) == 3:
        return shape  # type: ignore[return-value]
    if len(shape) == 2:
        return shape[0], 1, shape[1]
    return math.prod(shape), 1, 1


def _pair(v: tuple[int, ...], fill: int) -> tuple[int, int]:
    return (fill, v[0]) if len(v) == 1 else (v[0], v[1])


def _cfloat(v: float) -> str:
    """A C float literal that reads back as the same float32 value."""
    t = f"{v:.9g}"
    return (t if any(ch in t for ch in ".e") else t + ".0") + "f"


def _fmt(values: np.ndarray, is_float: bool) -> str:
    flat = np.asarray(values).reshape(-1)
    if is_float:
        items = [_cfloat(float(v)) for v in flat]
    else:
        items = [str(int(v)) for v in flat]
    lines = [", ".join(items[i:i + 16]) for i in range(0, len(items), 16)]
    return "{\n    " + ",\n    ".join(lines) + "\n}" if lines else "{0}"


@dataclass
class _Out:
    consts: list[str] = field(default_factory=list)
    bufs: list[str] = field(default_factory=list)
    state: list[str] = field(default_factory=list)
    trace_bufs: list[str] = field(default_factory=list)
    reset: list[str] = field(default_factory=list)
    static: list[str] = field(default_factory=list)
    tick: list[str] = field(default_factory=list)
    kernels: set[str] = field(default_factory=lambda: {"sat_add", "if"})
    const_bytes: int = 0  # flash: weights, biases, factors, thresholds
    buf_elems: int = 0  # RAM: activations, in act_t
    state_elems: int = 0  # RAM: membranes and max-pool counts, in act_t


class Emitter:
    """Builds the C text for one graph."""

    def __init__(self, graph: Graph, float_mode: bool = False, synaptic_delay: int = 0):
        self.g, self.fm, self.delay = graph, float_mode, int(synaptic_delay)
        self.q = graph.quant
        if self.q is None and not float_mode:
            raise ConversionError("the network is not quantized: run 'ann2snn quantize' first "
                                  "(or export --float for a float C model)")
        if self.q is not None and float_mode:
            raise ConversionError("--float needs the float network, not a quantized one")
        bad = C_OPS.missing(graph)
        if bad:
            raise UnsupportedLayerError(bad, C_OPS.supported(), "C backend")
        for x in graph.of_type(n.AvgPool):
            _check_avgpool(x, graph.shapes[x.inputs[0]])
        self.sym: dict[str, str] = symbols(graph)
        self.buf: dict[str, str] = {}  # what a node's consumers read
        self.emitted: dict[str, str] = {}  # delay 1: a population's spikes of this step
        self.readers = consumers(graph)
        self.static = static_nodes(graph)
        self.o = _Out()

    # -- helpers -----------------------------------------------------------------------
    def _const(self, ctype: str, name: str, arr: np.ndarray) -> str:
        arr = np.asarray(arr)
        width = 4 if self.fm or ctype != "weight_t" else np.dtype(arr.dtype).itemsize
        self.o.const_bytes += width * max(arr.size, 1)
        self.o.consts.append(f"static const {ctype} {name}[{max(arr.size, 1)}] = "
                             f"{_fmt(arr, self.fm)};")
        return name

    def _wtype(self) -> str:
        return "weight_t"

    def _new_buf(self, name: str, size: int) -> str:
        b = "buf_" + self.sym[name]
        self.o.bufs.append(f"static act_t {b}[{size}];")
        self.o.buf_elems += size
        self.buf[name] = b
        return b

    def _call(self, node: n.Node, line: str) -> None:
        (self.o.static if node.name in self.static else self.o.tick).append(
            f"    {line} /* {node.op} {node.name} */")

    # -- nodes -------------------------------------------------------------------------
    def emit(self) -> None:
        for x in self.g:
            C_OPS.get(x)(self, x)
        for name, out in self.emitted.items():  # delay 1: the spikes the next step reads
            size = math.prod(self.g.shapes[name])
            self.o.tick.append(f"    for (i = 0; i < {size}; ++i) {{\n"
                               f"        {self.buf[name]}[i] = {out}[i];\n    }}"
                               f" /* synaptic delay: {name} */")

    @C_OPS.register(n.Input)
    def _input(self, x: n.Input) -> None:
        b = self._new_buf(x.name, math.prod(self.g.shapes[x.name]))
        self.o.static.append(f"    for (i = 0; i < SNN_INPUT_SIZE; ++i) {{\n"
                             f"        {b}[i] = (act_t)x[i];\n    }}")

    @C_OPS.register(n.Conv)
    def _conv(self, x: n.Conv) -> None:
        ci, ih, iw = _chw(self.g.shapes[x.inputs[0]])
        co, oh, ow = _chw(self.g.shapes[x.name])
        w = np.asarray(x.weight)
        if w.ndim == 3:
            w = w[:, :, None, :]
        g = x.groups
        cig, kh, kw = w.shape[1:]
        wr = w.reshape(g, co // g, cig, kh, kw).transpose(0, 2, 3, 4, 1)
        s = self.sym[x.name]
        wn = self._const(self._wtype(), "w_" + s, wr)
        bn, full = "0", 0
        if x.bias is not None:
            bn = self._const("bias_t", "b_" + s, x.bias)
            full = int(np.asarray(x.bias).ndim > 1)
        sh, sw = _pair(x.stride, 1)
        ph, pw = _pair(x.padding, 0)
        dh, dw = _pair(x.dilation, 1)
        out = self._new_buf(x.name, co * oh * ow)
        self.o.kernels.add("conv")
        self._call(x, f"snn_conv({self.buf[x.inputs[0]]}, {out}, {wn}, {bn}, {full}, {ci}, "
                      f"{ih}, {iw}, {co}, {oh}, {ow}, {kh}, {kw}, {sh}, {sw}, {ph}, {pw}, "
                      f"{dh}, {dw}, {g});")

    @C_OPS.register(n.Dense)
    def _dense(self, x: n.Dense) -> None:
        s = self.sym[x.name]
        o, i = x.weight.shape
        wn = self._const(self._wtype(), "w_" + s, np.ascontiguousarray(np.asarray(x.weight).T))
        bn = self._const("bias_t", "b_" + s, x.bias) if x.bias is not None else "0"
        out = self._new_buf(x.name, o)
        self.o.kernels.add("dense")
        self._call(x, f"snn_dense({self.buf[x.inputs[0]]}, {out}, {wn}, {bn}, {i}, {o});")

    def _pool_geometry(self, x) -> tuple[int, str]:
        """(output elements, the kernels' window arguments "c, ih, iw, oh, ow, kh, kw, sh,
        sw, ph, pw" plus ", dh, dw" for a node with dilation)."""
        c, ih, iw = _chw(self.g.shapes[x.inputs[0]])
        _, oh, ow = _chw(self.g.shapes[x.name])
        args = [c, ih, iw, oh, ow, *_pair(x.kernel, 1), *_pair(x.stride, 1),
                *_pair(x.padding, 0)]
        if hasattr(x, "dilation"):
            args += _pair(x.dilation, 1)
        return c * oh * ow, ", ".join(map(str, args))

    @C_OPS.register(n.AvgPool)
    def _avgpool(self, x: n.AvgPool) -> None:
        size, geometry = self._pool_geometry(x)
        out = self._new_buf(x.name, size)
        self.o.kernels.add("sumpool")
        self._call(x, f"snn_sumpool({self.buf[x.inputs[0]]}, {out}, {geometry});")

    @C_OPS.register(n.GlobalAvgPool)
    def _globalavgpool(self, x: n.GlobalAvgPool) -> None:
        shape = self.g.shapes[x.inputs[0]]
        out = self._new_buf(x.name, shape[0])
        self.o.kernels.add("globalsum")
        self._call(x, f"snn_globalsum({self.buf[x.inputs[0]]}, {out}, {shape[0]}, "
                      f"{math.prod(shape[1:])});")

    @C_OPS.register(n.SpikingMaxPool)
    def _spikingmaxpool(self, x: n.SpikingMaxPool) -> None:
        size, geometry = self._pool_geometry(x)
        src, out = self.buf[x.inputs[0]], self._new_buf(x.name, size)
        if x.name in self.static:  # on the constant analog input: plain max pooling
            self.o.kernels.add("gate")
            self._call(x, f"snn_gate({src}, {src}, {out}, {geometry});")
            return
        n_in = math.prod(self.g.shapes[x.inputs[0]])
        cnt = "cnt_" + self.sym[x.name]
        self.o.state.append(f"    act_t {cnt}[{n_in}];")
        self.o.state_elems += n_in
        self.o.reset.append(f"    for (i = 0; i < {n_in}; ++i) {{\n"
                            f"        st.{cnt}[i] = 0;\n    }}")
        self.o.kernels.update(("gate", "smp"))
        self._call(x, f"snn_smp({src}, {out}, st.{cnt}, {geometry});")

    @C_OPS.register(n.Upsample)
    def _upsample(self, x: n.Upsample) -> None:
        c, ih, iw = _chw(self.g.shapes[x.inputs[0]])
        fh, fw = _pair(x.scale, 1)
        out = self._new_buf(x.name, math.prod(self.g.shapes[x.name]))
        self.o.kernels.add("upsample")
        self._call(x, f"snn_upsample({self.buf[x.inputs[0]]}, {out}, {c}, {ih}, {iw}, {fh}, "
                      f"{fw});")

    @C_OPS.register(n.Pad)
    def _pad(self, x: n.Pad) -> None:
        c, ih, iw = _chw(self.g.shapes[x.inputs[0]])
        _, oh, ow = _chw(self.g.shapes[x.name])
        top = x.pads[0][0] if len(x.pads) == 2 else 0
        left = x.pads[-1][0]
        out = self._new_buf(x.name, c * oh * ow)
        self.o.kernels.add("pad")
        self._call(x, f"snn_pad({self.buf[x.inputs[0]]}, {out}, {c}, {ih}, {iw}, {oh}, {ow}, "
                      f"{top}, {left});")

    @C_OPS.register(*(t for t in n.NODE_TYPES.values() if t.alias))
    def _alias(self, x: n.Node) -> None:  # the same elements in the same order: one buffer
        self.buf[x.name] = self.buf[x.inputs[0]]

    @C_OPS.register(n.Transpose)
    def _transpose(self, x: n.Transpose) -> None:
        shape = self.g.shapes[x.inputs[0]]
        perm = [p - 1 for p in x.perm[1:]]
        if len(shape) > 4:
            raise ConversionError(f"Transpose '{x.name}': rank {len(shape)} > 4")
        strides = [math.prod(shape[i + 1:]) for i in range(len(shape))]
        dims = [shape[p] for p in perm]
        st = [strides[p] for p in perm]
        dims, st = [1] * (4 - len(dims)) + dims, [0] * (4 - len(st)) + st
        out = self._new_buf(x.name, math.prod(shape))
        self.o.kernels.add("transpose")
        args = ", ".join(str(v) for v in dims + st)
        self._call(x, f"snn_transpose({self.buf[x.inputs[0]]}, {out}, {args});")

    @C_OPS.register(n.Concat)
    def _concat(self, x: n.Concat) -> None:
        oshape = self.g.shapes[x.name]
        ax = x.axis - 1
        outer, out_len = math.prod(oshape[:ax]), math.prod(oshape[ax:])
        out = self._new_buf(x.name, math.prod(oshape))
        self.o.kernels.add("concat")
        off = 0
        for i in x.inputs:
            ln = math.prod(self.g.shapes[i][ax:])
            self._call(x, f"snn_concat({self.buf[i]}, {out}, {outer}, {ln}, {out_len}, {off});")
            off += ln

    @C_OPS.register(n.Add)
    def _add(self, x: n.Add) -> None:
        size = math.prod(self.g.shapes[x.name])
        out = self._new_buf(x.name, size)
        self.o.kernels.add("add")
        for k, i in enumerate(x.inputs):
            self._call(x, f"snn_add({self.buf[i]}, {out}, {size}, {int(k == 0)});")

    @C_OPS.register(n.Scale)
    def _scale(self, x: n.Scale) -> None:
        shape = self.g.shapes[x.name]
        size = math.prod(shape)
        f = np.broadcast_to(np.asarray(x.factor), shape)
        c = shape[0] if shape else 1
        per = f.reshape(c, -1)
        if np.all(f == f.flat[0]):
            vals, nf, inner = f.reshape(-1)[:1], 1, size
        elif np.all(per == per[:, :1]):
            vals, nf, inner = per[:, 0], c, size // c
        else:
            vals, nf, inner = f.reshape(-1), size, 1
        fn = self._const(self._wtype(), "f_" + self.sym[x.name], vals)
        out = self._new_buf(x.name, size)
        self.o.kernels.add("scale")
        self._call(x, f"snn_scale({self.buf[x.inputs[0]]}, {out}, {fn}, {size}, {nf}, "
                      f"{inner});")

    @C_OPS.register(n.IF)
    def _if(self, x: n.IF) -> None:
        shape = self.g.shapes[x.name]
        size = math.prod(shape)
        c = shape[0] if shape else 1
        s = self.sym[x.name]
        if self.fm:
            th = np.array([x.threshold], np.float64)
            init = th * x.v0
        else:
            th = np.array(if_thresholds(x), np.int64)
            init = np.clip(np.floor(th * x.v0 + 0.5), -self.q.v_limit, self.q.v_limit)
        thn = self._const("act_t", "th_" + s, th)
        inner = size // c if th.size > 1 else size
        v, vpre = "v_" + s, "vpre_" + s
        self.o.state.append(f"    act_t {v}[{size}];")
        self.o.state_elems += size
        self.o.trace_bufs.append(f"static act_t {vpre}[{size}];")
        if np.all(init == 0):
            self.o.reset.append(f"    for (i = 0; i < {size}; ++i) {{\n"
                                f"        st.{v}[i] = 0;\n    }}")
        else:
            vin = self._const("act_t", "v0_" + s, init)
            idx = "0" if init.size == 1 else f"i / {inner}"
            self.o.reset.append(f"    for (i = 0; i < {size}; ++i) {{\n"
                                f"        st.{v}[i] = {vin}[{idx}];\n    }}")
        out = self._new_buf(x.name, size)
        zero = int(x.reset is ResetMode.ZERO)
        if self.delay and self.readers[x.name]:  # consumers read the previous step's spikes
            d = "d_" + s
            self.o.state.append(f"    act_t {d}[{size}];")
            self.o.state_elems += size
            self.o.reset.append(f"    for (i = 0; i < {size}; ++i) {{\n"
                                f"        st.{d}[i] = 0;\n    }}")
            self.emitted[x.name] = out
        self._call(x, f"snn_if({self.buf[x.inputs[0]]}, st.{v}, SNN_VPRE({vpre}), {out}, "
                      f"{size}, {inner}, {thn}, {th.size}, {zero}, {x.multi_spike}, "
                      f"{int(x.membrane_readout)});")
        if x.name in self.emitted:
            self.buf[x.name] = "st.d_" + s

    # -- tracing -------------------------------------------------------------------------
    def trace_layers(self) -> list[dict]:
        return [{"name": x.name, "op": x.op, "shape": list(self.g.shapes[x.name])}
                for x in traced_nodes(self.g)]

    def trace_table(self) -> str:
        rows = []
        for x in self.g:
            size = math.prod(self.g.shapes[x.name])
            name = json.dumps(x.name)
            if isinstance(x, n.Input):
                rows.append(f"    {{{name}, {size}, 0, 0, 0, {self.buf[x.name]}}}")
            elif isinstance(x, n.IF):
                s = self.sym[x.name]
                spikes = 0 if x.membrane_readout else \
                    self.emitted.get(x.name, self.buf[x.name])  # (a membrane has none)
                rows.append(f"    {{{name}, {size}, {self.buf[x.inputs[0]]}, vpre_{s}, "
                            f"st.v_{s}, {spikes}}}")
        return ",\n".join(rows)
