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
from .preprocess import DEFAULT_SPLIT_FRAME_HW, PixelPrep, build_pixel_prep, split_grid_for


class _EdgeGraph(torch.nn.Module):
    """Vision tower + connector on full tiles, as exported to ONNX: pixels [V, 3, S, S] -> tokens [V, T, D].

    The model's own embedding computes position ids with bucketize over a patch mask (for tiles of any
    size); on a full S x S tile they are 0..N-1, so the position table is added whole. That keeps the
    graph free of the data-dependent Gather ONNX Runtime rejects, and batch (views) dynamic.
    """

    def __init__(self, inner: torch.nn.Module):
        super().__init__()
        self.vision = inner.vision_model
        self.connector = inner.connector

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        emb = self.vision.embeddings
        x = emb.patch_embedding(pixel_values).flatten(2).transpose(1, 2)
        x = x + emb.position_embedding.weight.unsqueeze(0)
        x = self.vision.encoder(inputs_embeds=x, attention_mask=None).last_hidden_state
        return self.connector(self.vision.post_layernorm(x))


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

    def _split_grid(self) -> tuple[int, int]:
        return tuple(self.config.split_grid) if self.config.split_grid else split_grid_for(*DEFAULT_SPLIT_FRAME_HW, self.prep)

    def _vision_tokens(self, pixel_values: torch.Tensor) -> torch.Tensor:
        # The model's own feature path (vision tower, then connector), with the views of one image as the
        # pixel path batches them: [batch=1, views, 3, H, W] -> [views * T, D], view after view.
        feats = self.model.model.get_image_features(pixel_values.unsqueeze(0), return_dict=True).pooler_output
        return torch.cat(list(feats), dim=0)

    def _image_block(self) -> str:
        # As Idefics3Processor writes one image: a tagged block per tile (rows ended by a newline), then
        # the global view.
        fake, per_view = "<fake_token_around_image>", self.image_token * self.view_token_shape[0]
        tiles = ""
        if self.grid is not None:
            rows, cols = self.grid
            tiles = "".join("".join(f"{fake}<row_{r + 1}_col_{c + 1}>{per_view}" for c in range(cols)) + "\n"
                            for r in range(rows)) + "\n"
        return f"{tiles}{fake}<global-img>{per_view}{fake}"

    def edge_module(self) -> torch.nn.Module:
        return _EdgeGraph(self.model.model).eval()

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
