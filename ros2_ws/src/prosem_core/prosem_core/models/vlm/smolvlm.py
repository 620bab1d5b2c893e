"""SmolVLM / Idefics3 split at the connector output (the reference paper's split).

Edge: SigLIP vision tower + pixel-shuffle connector -> T x D tokens already in the LM's embedding space
(SmolVLM-256M at 512 x 512: 64 x 576). Cloud: the SmolLM/Llama language model reads them at the
<image> positions of the chat-templated prompt: <fake_token_around_image><global-img><image>*T<fake_...>.
"""

from __future__ import annotations

import torch

from .base import VlmConfig
from .hf_backend import HfVlmBackend
from .model_dir import ModelDir
from .preprocess import PixelPrep, build_pixel_prep


class SmolVlmBackend(HfVlmBackend):
    family = "smolvlm"
    family_name = "smolvlm"
    default_prompt_template = "User:{image}{question}<end_of_utterance>\nAssistant:"
    end_of_turn_tokens = ("<end_of_utterance>",)

    @classmethod
    def _model_class(cls, model_type: str):
        if model_type == "smolvlm":
            from transformers import SmolVLMForConditionalGeneration

            return SmolVLMForConditionalGeneration
        from transformers import Idefics3ForConditionalGeneration

        return Idefics3ForConditionalGeneration

    @classmethod
    def _pixel_prep(cls, mdir: ModelDir, hf_config, config: VlmConfig) -> PixelPrep:
        return build_pixel_prep(mdir.image_processor, "idefics3", int(hf_config.vision_config.image_size),
                                config.resize_mode)

    def _infer_token_shape(self) -> tuple[int, int]:
        cfg = self.model.config
        per_side = cfg.vision_config.image_size // cfg.vision_config.patch_size
        if per_side % cfg.scale_factor:
            raise ValueError(f"patch grid {per_side} is not divisible by scale_factor {cfg.scale_factor}")
        return (per_side // cfg.scale_factor) ** 2, int(cfg.text_config.hidden_size)

    def _vision_tokens(self, pixel_values: torch.Tensor) -> torch.Tensor:
        # The model's own feature path (vision tower, then connector), with one image per batch as the
        # pixel path uses it: [batch=1, images=1, 3, H, W].
        feats = self.model.model.get_image_features(pixel_values.unsqueeze(1), return_dict=True).pooler_output
        return torch.cat(list(feats), dim=0)

    def _image_block(self, n_tokens: int) -> str:
        fake = "<fake_token_around_image>"
        return f"{fake}<global-img>{self.image_token * n_tokens}{fake}"

    def _language_model(self) -> torch.nn.Module:
        return self.model.model.text_model

    def _drop_unused_half(self) -> None:
        # Identity placeholders keep the module tree valid while releasing the weights.
        if self.config.role == "edge":
            self.model.model.text_model = torch.nn.Identity()
            self.model.lm_head = torch.nn.Identity()
        elif self.config.role == "cloud":
            self.model.model.vision_model = torch.nn.Identity()
            self.model.model.connector = torch.nn.Identity()
