"""SmolVLM / SmolVLM2 / Idefics3: SigLIP tower + pixel-shuffle connector on the edge (64 tokens x 576 per
512 px view for SmolVLM-256M; 13 views with image splitting), the SmolLM language model on the cloud."""
from prosem_core.models.families.hf import HfFamily

FAMILY = HfFamily("smolvlm", backend="prosem_core.models.vlm.smolvlm:SmolVlmBackend", layout="idefics3",
                  vision_markers=("vision_model.", "connector."), image_splitting=True, projector_option=False)
