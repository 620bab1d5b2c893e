"""The default ProSem pipeline: encoder (edge) + codec (both ends) + answerer (cloud), built lazily.

    from prosem_core.pipeline import default_pipeline
    p = default_pipeline()                      # offline; nothing is loaded yet
    tokens = p.encoder.encode(rgb_uint8_hwc)    # float32 [49, 1280]
    layers = p.codec.encode(tokens)
    ans = p.answerer.answer(p.codec.decode(layers[:k]), "what is in the image?")
    ans.text, ans.confidence

Each component is built on first access, so the edge (encoder + codec, possibly without torch:
runtime="onnx") never loads the answerer, and the cloud (codec + answerer) never loads the encoder.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class PipelineConfig:
    runtime: str = "torch"  # encoder runtime: "torch" | "onnx" | "onnx-int8"
    threads: int | None = 1  # encoder threads (see models.encoder.build_encoder)
    codebook: str | Path | None = None  # None: the shipped codebook (prosem_core/data/codebooks)
    answer_head: str | Path | None = None  # None: the shipped easy-VQA head


class Pipeline:
    def __init__(self, cfg: PipelineConfig = PipelineConfig()):
        from prosem_core.models.encoder import RUNTIMES

        if cfg.runtime not in RUNTIMES:
            raise ValueError(f"unknown encoder runtime {cfg.runtime!r}; choose one of {', '.join(RUNTIMES)}")
        self.cfg = cfg
        self._encoder = self._codec = self._answerer = None

    @property
    def encoder(self):
        if self._encoder is None:
            from prosem_core.models.encoder import build_encoder

            self._encoder = build_encoder(self.cfg.runtime, threads=self.cfg.threads)
        return self._encoder

    @property
    def codec(self):
        if self._codec is None:
            from prosem_core.codec import MetaAutoEncoder, default_codec

            self._codec = MetaAutoEncoder.load(self.cfg.codebook) if self.cfg.codebook else default_codec()
        return self._codec

    @property
    def answerer(self):
        if self._answerer is None:
            from prosem_core.models.answerer import DefaultAnswerer

            self._answerer = DefaultAnswerer(self.cfg.answer_head)
        return self._answerer

    def loaded(self) -> dict[str, bool]:
        """Which components have been built (for tests and diagnostics)."""
        return {"encoder": self._encoder is not None, "codec": self._codec is not None,
                "answerer": self._answerer is not None}


def default_pipeline(runtime: str = "torch", **kwargs) -> Pipeline:
    """Offline pipeline; `runtime` picks the encoder ("torch", "onnx", "onnx-int8"); kwargs: PipelineConfig."""
    return Pipeline(PipelineConfig(runtime=runtime, **kwargs))
