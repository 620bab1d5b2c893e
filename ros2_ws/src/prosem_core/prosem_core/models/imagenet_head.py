"""EfficientNet-Lite0's ImageNet classifier `_fc` applied to the mean token, in numpy.

The weights are read once from the encoder's pretrained state dict (needs torch) and cached as
safetensors in model_dir() so later processes load them without torch.
"""
from __future__ import annotations

import numpy as np

from prosem_core.models.paths import model_dir

_FILE = "efficientnet_lite0_fc.safetensors"


def load_fc() -> tuple[np.ndarray, np.ndarray]:
    """(_fc weight [1000, 1280], bias [1000]) float32."""
    from safetensors.numpy import load_file, save_file

    path = model_dir() / _FILE
    if path.is_file():
        t = load_file(str(path))
        return t["weight"], t["bias"]
    from prosem_core.models.efficientnet import imagenet_head, load_efficientnet_lite0

    weight, bias = imagenet_head(load_efficientnet_lite0())
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    save_file({"weight": weight, "bias": bias}, str(tmp))
    tmp.replace(path)
    return weight, bias


class ImageNetHead:
    def __init__(self):
        self.weight, self.bias = load_fc()

    def probs(self, tokens: np.ndarray) -> np.ndarray:
        """tokens [T, 1280] -> softmax over the 1000 classes (global average pool, as the model was trained)."""
        logits = np.asarray(tokens, dtype=np.float32).mean(axis=0) @ self.weight.T + self.bias
        logits = logits - logits.max()
        p = np.exp(logits)
        return p / p.sum()
