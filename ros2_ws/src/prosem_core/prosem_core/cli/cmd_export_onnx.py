"""`prosem export-onnx`: write the ONNX files (encoder fp32 + int8, MiniLM) where edge and cloud look for them."""
from __future__ import annotations

import argparse


def run(args: argparse.Namespace) -> int:
    import time

    from prosem_core.models.export import ExportConfig, export_all
    from prosem_core.models.paths import model_dir

    start = time.perf_counter()
    paths = export_all(force=args.force, cfg=ExportConfig(seed=args.seed))
    for variant, path in paths.items():
        print(f"{variant}: {path} ({path.stat().st_size / 1e6:.2f} MB)")
    if not args.no_open_cache:
        # Cache what the open-question path derives from models (ImageNet head as safetensors, MiniLM
        # vectors of the class names) so the first `prosem ask` needs neither torch.load nor 1000 embeddings.
        from prosem_core.models.open_vqa import OpenVQA

        OpenVQA()
        print("open-question caches ready")
    print(f"model dir: {model_dir()}  ({time.perf_counter() - start:.1f} s)")
    return 0


def register(commands, groups) -> None:
    p = commands.add_parser("export-onnx", help="export the vision encoder (fp32 + int8 QDQ) and MiniLM to ONNX; idempotent")
    p.add_argument("--force", action="store_true", help="re-export even if the files exist")
    p.add_argument("--seed", type=int, default=0, help="seed picking the int8 calibration images")
    p.add_argument("--no-open-cache", action="store_true", help="skip caching the ImageNet head and label embeddings")
    p.set_defaults(func=run)
