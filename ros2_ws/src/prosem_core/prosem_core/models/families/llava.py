"""LLaVA-style models: CLIP/SigLIP tower (+ the MLP projector, by option) on the edge, the language model
on the cloud (LLaVA-1.5: 576 tokens per 336 px view)."""
from prosem_core.models.families.hf import HfFamily

FAMILY = HfFamily("llava", backend="prosem_core.models.vlm.llava:LlavaBackend", layout="clip",
                  vision_markers=("vision_tower.", "multi_modal_projector."), image_splitting=False,
                  projector_option=True)
