"""`prosem export-onnx`: write the ONNX files the edge runs without torch.

    prosem export-onnx                                   # default model: encoder fp32 + int8, MiniLM
    prosem export-onnx --model smolvlm --model-dir DIR   # a VLM's edge half -> DIR/prosem_onnx/ (or --out)
    prosem export-onnx --model smolvlm --model-dir DIR --int8 static   # int8 for an NPU delegate

A VLM export writes fp32 and int8 graphs plus a manifest (model fingerprint, shapes, int8 method) and
prints the token error of each against torch. Idempotent: an export that matches the model and the
int8 method is kept unless --force.
"""
from __future__ import annotations

import argparse
import sys


def _run_default(args: argparse.Namespace) -> int:
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


def _up_to_date(args, family: str):
    """The existing manifest if the export in the target folder matches the model, else None."""
    from prosem_core.models.registry import get_family
    from prosem_core.models.vlm.onnx_files import onnx_dir, onnx_file, read_manifest, split_name

    folder = onnx_dir(args.model_dir, args.out)
    split = split_name(family, not args.projector_on_cloud)
    try:
        manifest = read_manifest(folder, split)
    except ValueError:
        return None
    if manifest is None or manifest.get("fingerprint") != get_family(family).fingerprint_of(args.model_dir):
        return None
    if manifest.get("int8", "dynamic") != args.int8:
        return None
    if not all(onnx_file(folder, split, v).is_file() for v in ("fp32", "int8")):
        return None
    return manifest


def _run_vlm(args: argparse.Namespace, family: str) -> int:
    from prosem_core.models.errors import ModelSetupError

    if not args.model_dir:
        print(f"prosem export-onnx: --model {family} needs --model-dir (the folder of the saved model)", file=sys.stderr)
        return 2
    try:
        manifest = None if args.force else _up_to_date(args, family)
        if manifest is not None:
            print(f"up to date: {args.out or args.model_dir} holds the {family} export for fingerprint "
                  f"{manifest['fingerprint']}, int8 {args.int8} (--force re-exports)")
            for variant, err in manifest["token_error_vs_torch"].items():
                print(f"  {variant}: {manifest['files'][variant]}  token error vs torch {err['rel_error']:.4f}")
            return 0
        from prosem_core.models.vlm.onnx_export import export_edge

        report = export_edge(args.model_dir, family, args.out, projector_on_edge=not args.projector_on_cloud,
                             threads=args.threads, int8=args.int8, log=print)
    except ModelSetupError as exc:
        print(f"prosem export-onnx: {exc}", file=sys.stderr)
        return 2
    for variant, path in report.files.items():
        err = report.token_error[variant]
        print(f"{variant}: {path} ({path.stat().st_size / 1e6:.1f} MB)  token error vs torch: "
              f"relative {err['rel_error']:.4f}, max abs {err['max_abs_error']:.3g}")
    print(f"manifest: {report.folder / (report.split + '.json')}  fingerprint {report.fingerprint}  "
          f"({report.seconds:.1f} s)")
    return 0


def run(args: argparse.Namespace) -> int:
    family = args.model or "default"
    if family == "default":
        if args.model_dir or args.out:
            print("prosem export-onnx: --model-dir/--out are for VLM models (--model smolvlm|llava)", file=sys.stderr)
            return 2
        return _run_default(args)
    return _run_vlm(args, family)


def register(commands, groups) -> None:
    from prosem_core.models.registry import family_names

    p = commands.add_parser("export-onnx", help="export a model's edge half to ONNX (fp32 + int8); idempotent")
    p.add_argument("--model", default=None, choices=list(family_names()),
                   help="model family (default: the built-in encoder + MiniLM)")
    p.add_argument("--model-dir", default=None, help="folder of the saved VLM")
    p.add_argument("--out", default=None, help="VLM export folder (default MODEL_DIR/prosem_onnx)")
    p.add_argument("--projector-on-cloud", action="store_true",
                   help="LLaVA: export the tower only (the cloud runs the projector)")
    p.add_argument("--threads", type=int, default=None, help="CPU threads for the token-error check")
    p.add_argument("--int8", default="dynamic", choices=["dynamic", "static"],
                   help="VLM int8 graph: dynamic (fastest on a CPU) or static QDQ with calibrated activation ranges "
                        "(what an NPU delegate needs; the default model's int8 encoder is always static)")
    p.add_argument("--force", action="store_true", help="re-export even if the files exist")
    p.add_argument("--seed", type=int, default=0, help="default model: seed picking the int8 calibration images")
    p.add_argument("--no-open-cache", action="store_true",
                   help="default model: skip caching the ImageNet head and label embeddings")
    p.set_defaults(func=run)
