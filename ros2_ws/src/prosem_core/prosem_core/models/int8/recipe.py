"""What the int8 recipe does to a graph: a plain, frozen description saved beside the model it made."""
from __future__ import annotations

from dataclasses import asdict, dataclass

RECIPE_VERSION = 1  # bump when the same recipe fields would give a different graph


@dataclass(frozen=True)
class Int8Recipe:
    fp32_first: int = 0  # weight layers (Conv, MatMul, Gemm with a constant weight) kept in float at the start
    fp32_last: int = 0  # ... and at the end of the graph, in graph order
    fp32_layers: tuple[str, ...] = ()  # further layers kept in float, by node name
    op_types: tuple[str, ...] | None = None  # ops ONNX Runtime quantizes; None: its defaults
    activations: str = "uint8"  # uint8: the fast kernels of x86 (VNNI) and Arm (dot-product) CPUs
    rounding: str = "least-squares"  # "nearest", or the rounding that minimises each layer's output error
    bias_correction: bool = True  # cancel each quantized layer's mean output error, layer after layer
    bias_feeds: int = 32  # calibration inputs the bias correction runs (it runs the graph once per layer)

    def __post_init__(self):
        if self.fp32_first < 0 or self.fp32_last < 0:
            raise ValueError("fp32_first and fp32_last count layers and cannot be negative")
        if self.activations not in ("uint8", "int8"):
            raise ValueError(f"activations must be 'uint8' or 'int8', not {self.activations!r}")
        if self.rounding not in ("nearest", "least-squares"):
            raise ValueError(f"rounding must be 'nearest' or 'least-squares', not {self.rounding!r}")
        if self.bias_feeds < 1:
            raise ValueError("bias_feeds must be at least 1")

    def as_dict(self) -> dict:
        d = asdict(self)
        d["fp32_layers"] = list(self.fp32_layers)
        d["op_types"] = list(self.op_types) if self.op_types is not None else None
        d["version"] = RECIPE_VERSION
        return d
