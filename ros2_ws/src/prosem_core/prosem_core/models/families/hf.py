"""What the Hugging Face VLM families (SmolVLM, LLaVA) share: a local model directory, a torch backend
for the cloud half (and the torch edge), an ONNX export for the ONNX edge. Importing this needs no torch;
only the torch runtime and the cloud half load it."""
from __future__ import annotations

import importlib
from pathlib import Path

from prosem_core.models.errors import ModelOptionError, ModelSetupError

_MODEL_DIR_FIX = ("pass model_dir:=DIR (--model-dir DIR): a folder saved with save_pretrained "
                  "(config.json, model.safetensors, tokenizer and processor files)")


class HfFamily:
    runtimes = ("torch", "onnx", "onnx-int8")

    def __init__(self, name: str, backend: str, layout: str, vision_markers: tuple[str, ...],
                 image_splitting: bool, projector_option: bool):
        self.name = name
        self._backend = backend  # "module:Class" of the torch backend
        self.layout = layout  # preprocessing layout (models/vlm/preprocess.py)
        self.vision_markers = vision_markers  # tensor-name parts of the edge half (fingerprint)
        self.image_splitting = image_splitting
        self.projector_option = projector_option

    # ---- options and identity ---------------------------------------------------------------------
    def check_options(self, cfg) -> None:
        if not cfg.model_dir:
            raise ModelOptionError(f"model {self.name} needs a model directory", _MODEL_DIR_FIX)
        if cfg.answer_head:
            raise ModelOptionError("answer_head applies to the default model only", "leave answer_head empty")
        if cfg.image_splitting and not self.image_splitting:
            raise ModelOptionError(f"image_splitting is not available for {self.name} (SmolVLM only)",
                                   "set image_splitting false")
        if cfg.resize_mode not in ("processor", "direct"):
            raise ModelOptionError(f"resize_mode must be 'processor' or 'direct', got {cfg.resize_mode!r}",
                                   "set resize_mode processor")
        if not self.projector_option and not cfg.llava_projector_on_edge:
            raise ModelOptionError("llava_projector_on_edge applies to llava only", "leave it true")
        if not 1 <= int(cfg.max_new_tokens) <= 4096:
            raise ModelOptionError(f"max_new_tokens must be in 1..4096, got {cfg.max_new_tokens}", "set max_new_tokens 24")

    def model_args(self, cfg) -> str:
        args = f"--model {self.name} --model-dir {cfg.model_dir}"
        if cfg.image_splitting:
            args += " --image-splitting"
        if self.projector_option and not cfg.llava_projector_on_edge:
            args += " --projector-on-cloud"
        return args

    def open_dir(self, model_dir: str | Path):
        from prosem_core.models.vlm.base import VlmLoadError
        from prosem_core.models.vlm.model_dir import open_model_dir

        try:
            return open_model_dir(model_dir, expect_family=self.name)
        except VlmLoadError as exc:
            raise ModelSetupError(str(exc), _MODEL_DIR_FIX) from exc

    def fingerprint_of(self, model_dir: str | Path) -> str:
        from prosem_core.models.fingerprint import vlm_fingerprint

        return vlm_fingerprint(self.open_dir(model_dir).path, self.vision_markers)

    def fingerprint(self, cfg) -> str:
        return self.fingerprint_of(cfg.model_dir)

    # ---- the two halves -------------------------------------------------------------------------
    def vlm_config(self, cfg, role: str):
        from prosem_core.models.vlm.base import VlmConfig, VlmInputError

        try:
            return VlmConfig(model_dir=str(cfg.model_dir), role=role, llava_projector_on_edge=cfg.llava_projector_on_edge,
                             resize_mode=cfg.resize_mode, prompt_template=cfg.prompt_template,
                             max_new_tokens=int(cfg.max_new_tokens), num_threads=cfg.threads,
                             image_splitting=bool(cfg.image_splitting),
                             split_grid=tuple(cfg.split_grid) if cfg.split_grid else None)
        except VlmInputError as exc:
            raise ModelOptionError(str(exc), "fix the option named") from exc

    def load_backend(self, cfg, role: str):
        """The torch backend holding `role`'s half ("edge", "cloud" or "both")."""
        from prosem_core.models.vlm.base import VlmInputError, VlmLoadError

        self.open_dir(cfg.model_dir)  # a missing directory gets the one-line error before torch loads
        module, cls = self._backend.split(":")
        try:
            backend_cls = getattr(importlib.import_module(module), cls)
        except ImportError as exc:
            raise ModelSetupError(f"the {self.name} {role} half needs torch and transformers ({exc})",
                                  "pip install -r requirements.txt, or run the edge with runtime:=onnx") from exc
        try:
            return backend_cls.from_config(self.vlm_config(cfg, role))
        except (VlmLoadError, VlmInputError) as exc:
            raise ModelSetupError(str(exc), _MODEL_DIR_FIX) from exc

    def build_encoder(self, cfg):
        if cfg.runtime == "torch":
            from prosem_core.models.vlm.edge_torch import VlmTorchEncoder

            return VlmTorchEncoder(self.load_backend(cfg, "edge"))
        from prosem_core.models.vlm.edge_onnx import OnnxEdgeSpec, VlmOnnxEncoder

        spec = OnnxEdgeSpec(mdir=self.open_dir(cfg.model_dir), family=self.name, layout=self.layout,
                            runtime=cfg.runtime, fingerprint=self.fingerprint(cfg), threads=cfg.threads,
                            onnx_dir=str(cfg.onnx_dir or ""), resize_mode=cfg.resize_mode,
                            image_splitting=bool(cfg.image_splitting),
                            split_grid=tuple(cfg.split_grid) if cfg.split_grid else None,
                            projector_on_edge=bool(cfg.llava_projector_on_edge))
        return VlmOnnxEncoder(spec)

    def build_answerer(self, cfg):
        return self.load_backend(cfg, "cloud")

    def default_codebook(self, cfg) -> Path | None:
        return None  # a codebook is fitted per model: `prosem calibrate`

    def codec_model(self, cfg):
        return self.load_backend(cfg, "cloud")  # first_linear_map(): what the language model reads first
