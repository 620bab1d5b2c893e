"""The default family: EfficientNet-Lite0 tokens [49, 1280] on the edge, the easy-VQA answer head and the
ImageNet head + MiniLM on the cloud, with the shipped codebook."""
from __future__ import annotations

from pathlib import Path

from prosem_core.models.errors import ModelOptionError, ModelSetupError


class DefaultFamily:
    name = "default"
    runtimes = ("torch", "onnx", "onnx-int8")

    def check_options(self, cfg) -> None:
        if cfg.model_dir:
            raise ModelOptionError(f"model_dir {cfg.model_dir!r} is for VLM families; the default model is built in",
                                   "leave model_dir empty, or choose model smolvlm or llava")
        if cfg.image_splitting:
            raise ModelOptionError("image_splitting applies to SmolVLM only", "set image_splitting false")
        if cfg.resize_mode != "processor":
            raise ModelOptionError("resize_mode applies to VLM families only", "leave resize_mode at 'processor'")

    def fingerprint(self, cfg) -> str:
        from prosem_core.models.fingerprint import default_fingerprint

        return default_fingerprint()

    def build_encoder(self, cfg):
        from prosem_core.models.encoder import build_encoder
        from prosem_core.models.paths import ModelFileMissing

        try:
            return build_encoder(cfg.runtime, threads=cfg.threads)
        except ModelFileMissing as exc:
            fix = "prosem export-onnx" if cfg.runtime != "torch" else "make setup"
            raise ModelSetupError(str(exc).split(". ")[0], fix) from exc

    def build_answerer(self, cfg):
        from prosem_core.models.answerer import DefaultAnswerer

        answerer = DefaultAnswerer(cfg.answer_head)
        if not answerer.head_path.is_file():
            raise ModelSetupError(f"answer head {answerer.head_path} is missing",
                                  "restore it with git, or pass answer_head:=<file> (prosem train vqa-head)")
        return answerer

    def default_codebook(self, cfg) -> Path | None:
        from prosem_core.codec import DEFAULT_CODEBOOK

        return DEFAULT_CODEBOOK

    def codec_model(self, cfg):
        from prosem_core.models.answerer import DefaultAnswerer

        return DefaultAnswerer(cfg.answer_head)

    def model_args(self, cfg) -> str:
        return "--model default"


FAMILY = DefaultFamily()
