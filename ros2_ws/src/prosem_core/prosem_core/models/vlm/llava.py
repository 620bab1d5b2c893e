"""LLaVA-style models split at the vision tower (projector on the edge or on the cloud, by config).

Edge: CLIP/SigLIP tower -> hidden state of `vision_feature_layer` (CLS dropped for the "default"
strategy) -> optionally the 2-layer MLP projector. Cloud: projector if the edge did not run it, then the
language model reads the rows at the <image> positions (one <image> per token, as LlavaProcessor expands).
"""

from __future__ import annotations

import numpy as np
import torch

from .base import VlmConfig
from .hf_backend import HfVlmBackend
from .model_dir import ModelDir
from .preprocess import PixelPrep, build_pixel_prep


def _select_features(tower: torch.nn.Module, cfg, pixel_values: torch.Tensor) -> torch.Tensor:
    out = tower(pixel_values, output_hidden_states=True, return_dict=True)
    layers = cfg.vision_feature_layer
    picked = [out.hidden_states[i] for i in ([layers] if isinstance(layers, int) else layers)]
    if cfg.vision_feature_select_strategy == "default":
        picked = [h[:, 1:] for h in picked]  # drop CLS
    return picked[0] if len(picked) == 1 else torch.cat(picked, dim=-1)


class _EdgeGraph(torch.nn.Module):
    """Tower (+ projector when the edge runs it), as exported to ONNX: pixels [V, 3, S, S] -> [V, T, D]."""

    def __init__(self, tower: torch.nn.Module, cfg, projector: torch.nn.Module | None):
        super().__init__()
        self.tower, self.cfg, self.projector = tower, cfg, projector

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        feats = _select_features(self.tower, self.cfg, pixel_values)
        return self.projector(feats) if self.projector is not None else feats


class LlavaBackend(HfVlmBackend):
    family = "llava"
    family_name = "llava"
    default_prompt_template = "USER: {image}\n{question} ASSISTANT:"

    @classmethod
    def _model_class(cls, model_type: str):
        from transformers import LlavaForConditionalGeneration

        return LlavaForConditionalGeneration

    @classmethod
    def _pixel_prep(cls, mdir: ModelDir, hf_config, config: VlmConfig) -> PixelPrep:
        return build_pixel_prep(mdir.image_processor, "clip", int(hf_config.vision_config.image_size),
                                config.resize_mode)

    @property
    def projector_on_edge(self) -> bool:
        return bool(self.config.llava_projector_on_edge)

    def _infer_token_shape(self) -> tuple[int, int]:
        cfg = self.model.config
        per_side = cfg.vision_config.image_size // cfg.vision_config.patch_size
        # CLIP towers put a CLS token first, SigLIP towers do not; the "default" strategy drops the first
        # token either way (as LlavaModel does), "full" keeps all.
        has_cls = any(hasattr(m, "class_embedding") for m in self.model.model.vision_tower.modules())
        n = per_side * per_side + int(has_cls) - int(cfg.vision_feature_select_strategy == "default")
        layers = cfg.vision_feature_layer
        width = cfg.text_config.hidden_size if self.projector_on_edge else (
            cfg.vision_config.hidden_size * (1 if isinstance(layers, int) else len(layers)))
        return n, int(width)

    def _selected_vision_features(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """Tower features the projector would read: [V, T, Dv * n_layers], as LlavaModel selects them."""
        return _select_features(self.model.model.vision_tower, self.model.config, pixel_values)

    def edge_module(self) -> torch.nn.Module:
        projector = self.model.model.multi_modal_projector if self.projector_on_edge else None
        return _EdgeGraph(self.model.model.vision_tower, self.model.config, projector).eval()

    def _vision_tokens(self, pixel_values: torch.Tensor) -> torch.Tensor:
        if self.projector_on_edge:
            # The model's own feature path, tower + projector.
            feats = self.model.model.get_image_features(pixel_values=pixel_values, return_dict=True).pooler_output
            return torch.cat(list(feats), dim=0)
        return self._selected_vision_features(pixel_values)[0]

    def _tokens_to_lm_inputs(self, tokens: torch.Tensor) -> torch.Tensor:
        if self.projector_on_edge:
            return tokens
        return self.model.model.multi_modal_projector(tokens.unsqueeze(0))[0]

    def _image_block(self) -> str:
        return self.image_token * self.token_shape[0]

    def _language_model(self) -> torch.nn.Module:
        return self.model.model.language_model

    def _compute_first_linear_map(self) -> np.ndarray:
        if self.projector_on_edge:
            return super()._compute_first_linear_map()
        # Tokens are tower features; the first thing the cloud applies is the projector's first Linear.
        w = self.model.model.multi_modal_projector.linear_1.weight
        return np.ascontiguousarray(w.detach().float().cpu().numpy())

    def _drop_unused_half(self) -> None:
        if self.config.role == "edge":
            self.model.model.language_model = torch.nn.Identity()
            self.model.lm_head = torch.nn.Identity()
            if not self.projector_on_edge:
                self.model.model.multi_modal_projector = torch.nn.Identity()
        elif self.config.role == "cloud":
            self.model.model.vision_tower = torch.nn.Identity()
            if self.projector_on_edge:
                self.model.model.multi_modal_projector = torch.nn.Identity()
