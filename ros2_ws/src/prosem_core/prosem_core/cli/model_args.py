"""Command-line options that pick a model and its split, shared by `prosem calibrate`, `ask` and `bench vlm`."""
from __future__ import annotations

import argparse

LEGACY_METRIC_VALUES = ("answerer", "none")  # `calibrate --model answerer|none` before --model named the family


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {text}")
    return value


def grid(text: str) -> tuple[int, int]:
    try:
        rows, cols = (int(v) for v in text.lower().replace("x", ",").split(","))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"expected ROWSxCOLS, e.g. 3x4, got {text!r}") from exc
    return rows, cols


def add_model_arguments(p: argparse.ArgumentParser, runtime_default: str, runtime_choices: list[str],
                        legacy_metric_values: bool = False) -> None:
    from prosem_core.models.registry import family_names

    g = p.add_argument_group("model")
    choices = list(family_names()) + (list(LEGACY_METRIC_VALUES) if legacy_metric_values else [])
    g.add_argument("--model", default=None, choices=choices,
                   help="model family (default: default)" + ("; the old values answerer|none mean --metric model|none"
                                                              if legacy_metric_values else ""))
    g.add_argument("--backend", default=None, choices=[f for f in family_names() if f != "default"],
                   help="alias of --model for a VLM (kept for old command lines)")
    g.add_argument("--model-dir", default=None, help="folder of the saved VLM (config.json, safetensors, tokenizer)")
    g.add_argument("--runtime", default=runtime_default, choices=runtime_choices,
                   help=f"edge-half runtime (default {runtime_default})")
    g.add_argument("--threads", type=positive_int, default=None, help="CPU threads of the model (default: the runtime's)")
    g.add_argument("--resize-mode", default="processor", choices=["processor", "direct"],
                   help="VLM image resizing: the processor's chain (default) or one direct resize")
    g.add_argument("--image-splitting", action="store_true", help="SmolVLM: tiles + global view (13 views)")
    g.add_argument("--split-grid", type=grid, default=None, metavar="ROWSxCOLS",
                   help="SmolVLM tiles (default: the processor's grid for a 4:3 frame)")
    g.add_argument("--projector-on-cloud", action="store_true", help="LLaVA: ship tower features, project in the cloud")
    g.add_argument("--onnx-dir", default=None, help="folder of the ONNX export (default MODEL_DIR/prosem_onnx)")


def family_from_args(args: argparse.Namespace) -> str:
    family = None if args.model in LEGACY_METRIC_VALUES else args.model
    if args.backend:
        if family not in (None, args.backend):
            raise ValueError(f"--backend {args.backend} contradicts --model {family}")
        family = args.backend
    return family or "default"


def pipeline_config(args: argparse.Namespace, family: str, runtime: str, **extra):
    from prosem_core.pipeline import PipelineConfig

    return PipelineConfig(model=family, model_dir=args.model_dir or "", runtime=runtime, threads=args.threads,
                          resize_mode=args.resize_mode, image_splitting=args.image_splitting,
                          split_grid=args.split_grid, llava_projector_on_edge=not args.projector_on_cloud,
                          onnx_dir=args.onnx_dir or "", **extra)
