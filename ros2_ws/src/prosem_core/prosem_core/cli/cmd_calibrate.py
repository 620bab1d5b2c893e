"""`prosem calibrate`: fit a Meta AutoEncoder codebook for a model from images (closed form, seconds).

The codebook is bound to the model: its JSON provenance names the family, the model fingerprint and the
model directory, and the nodes refuse a codebook of another model at start. The vision pass of a real
VLM takes seconds per image here, so tokens are cached per image next to --out (OUT.cache/): rerunning
the same command resumes, and --max-minutes / --max-images cap a run.

Examples:
    prosem calibrate --easy-vqa 1000 --photos                 # the shipped default codebook
    prosem calibrate --images 'frames/*.jpg' --out my_codebook
    prosem calibrate --bag recordings/run1 --topic /camera/image_raw --out run1_codebook
    prosem calibrate --model smolvlm --model-dir /models/SmolVLM-256M-Instruct --images frames/ \
        --out /models/smolvlm_cb --max-minutes 20
"""
from __future__ import annotations

import argparse
import shlex
import sys
import time
from pathlib import Path

from prosem_core.cli.model_args import (
    LEGACY_METRIC_VALUES,
    add_model_arguments,
    family_from_args,
    pipeline_config,
)
from prosem_core.cli.model_args import positive_int as _positive


def _positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
    return value


def _int_list(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(v) for v in text.split(","))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from exc


def _float_list(text: str) -> tuple[float, ...]:
    try:
        return tuple(float(v) for v in text.split(","))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {text!r}") from exc


def _collect_images(args, log, with_easy_vqa_images: bool) -> list:
    from prosem_core.codec import calibration_images as ci

    images = []
    if args.easy_vqa and with_easy_vqa_images:  # the default encoder reads easy-VQA from its own token cache
        images += ci.easy_vqa_train_images(args.easy_vqa)
    if args.photos:
        images += ci.photo_variants(args.photo_variants, seed=args.seed)
    for pattern in args.images or []:
        images += list(ci.read_image_files(ci.image_files(pattern)))
    if args.bag:
        images += list(ci.bag_images(args.bag, args.topic, args.bag_every, args.max_bag_frames))
    if args.max_images is not None:
        images = images[:args.max_images]
    extra = f" + {args.easy_vqa} easy-VQA (token cache)" if args.easy_vqa and not with_easy_vqa_images else ""
    log(f"calibration images: {len(images)}{extra}")
    return images


def _command_line(args: argparse.Namespace) -> str:
    """The options that differ from their defaults, as a command someone can rerun."""
    parts = ["prosem", "calibrate"]
    for action in args.parser._actions:
        if not action.option_strings or action.dest in ("help",):
            continue
        value = getattr(args, action.dest, None)
        if value == action.default or value is None:
            continue
        opt = action.option_strings[0] if action.option_strings[0].startswith("--") else action.option_strings[-1]
        if value is True:
            parts.append(opt)
        elif isinstance(value, list):
            for v in value:
                parts += [opt, str(v)]
        elif isinstance(value, tuple):
            parts += [opt, ",".join(f"{v:g}" if isinstance(v, float) else str(v) for v in value)]
        else:
            parts += [opt, str(value)]
    return " ".join(shlex.quote(p) for p in parts)


def _resolve_model(args) -> tuple[str, str]:
    """(family, metric) from --model / --backend / --metric, accepting the old `--model answerer|none`."""
    metric = args.metric
    if args.model in LEGACY_METRIC_VALUES:
        metric = "model" if args.model == "answerer" else "none"
    return family_from_args(args), metric


def _runtime(args, family: str, log) -> str:
    """--runtime auto: the default model's ONNX (as today); a VLM's ONNX export if it exists, else torch."""
    if args.runtime != "auto":
        return args.runtime
    if family == "default":
        return "onnx"
    from prosem_core.models.vlm.onnx_files import manifest_path, onnx_dir, split_name

    split = split_name(family, not args.projector_on_cloud)
    if manifest_path(onnx_dir(args.model_dir, args.onnx_dir or None), split).is_file():
        return "onnx"
    log(f"no ONNX export of the {family} edge half yet: computing tokens with torch "
        f"(`prosem export-onnx --model {family} --model-dir {args.model_dir}` makes it faster)")
    return "torch"


def _tokens(args, pipe, family: str, runtime: str, out: Path, log):
    """Calibration tokens [N, T, D] and a summary of where they came from."""
    import numpy as np

    from prosem_core.models.calibration_tokens import collect_tokens
    from prosem_core.models.token_cache import TokenCache, cache_folder

    if args.tokens:
        tokens = np.load(args.tokens, allow_pickle=False)
        return tokens, {"tokens_file": str(args.tokens), "images": int(tokens.shape[0])}
    parts, summary = [], {}
    if args.easy_vqa and family == "default":
        from prosem_core.models.datasets import easy_vqa_tokens

        _, tok = easy_vqa_tokens("train", runtime)
        if args.easy_vqa > len(tok):
            raise ValueError(f"--easy-vqa {args.easy_vqa}: only {len(tok)} training images")
        parts.append(np.asarray(tok[:args.easy_vqa], np.float32))
        summary["easy_vqa_tokens"] = args.easy_vqa
    images = _collect_images(args, log, with_easy_vqa_images=family != "default")
    if images:
        encoder = pipe.encoder
        cache = None
        if not args.no_cache:
            identity = {"fingerprint": pipe.fingerprint, "family": family, "runtime": runtime,
                        "token_shape": list(encoder.token_shape), "resize_mode": args.resize_mode,
                        "image_splitting": args.image_splitting, "split_grid": args.split_grid,
                        "projector_on_edge": not args.projector_on_cloud}
            cache = TokenCache(cache_folder(out, identity), identity)
            log(f"token cache: {cache.folder} ({len(cache)} images cached)")
        max_s = args.max_minutes * 60 if args.max_minutes else None
        got = collect_tokens(encoder, images, cache, max_seconds=max_s)
        if got.computed + got.from_cache:
            parts.append(got.tokens)
        summary.update(images=len(images), from_cache=got.from_cache, computed=got.computed,
                       not_encoded=got.not_encoded)
        if got.stopped_by:
            summary["stopped_by"] = got.stopped_by
            log(f"--max-minutes {args.max_minutes}: {got.not_encoded} of {len(images)} images not encoded; "
                f"rerun the same command to continue (the {got.from_cache + got.computed} encoded are cached)")
    if not parts:
        raise ValueError("no calibration data: give --easy-vqa, --photos, --images, --bag or --tokens")
    return np.concatenate(parts), summary


def _fit_config(args) -> dict:
    config = {}
    if args.budgets:
        config["layer_budgets"] = args.budgets  # CodecConfig checks it matches the layer plan's length
    if args.layer_levels:
        config["layer_levels"] = tuple(tuple(int(c) for c in part) for part in args.layer_levels.split(","))
    if args.level_weights:
        config["level_weights"] = args.level_weights
    if args.detail_components:
        config["detail_components"] = args.detail_components
    return config


def run(args: argparse.Namespace) -> int:
    from prosem_core.codec import DEFAULT_CODEBOOK, MetaAutoEncoder
    from prosem_core.models.errors import ModelSetupError
    from prosem_core.pipeline import Pipeline

    def log(msg: str) -> None:
        print(msg, file=sys.stderr)

    try:
        family, metric = _resolve_model(args)
    except ValueError as exc:
        log(f"error: {exc}")
        return 2
    if family != "default" and not args.out:
        log(f"error: --model {family} needs --out (the shipped codebook is for the default model)")
        return 2
    if family != "default" and not args.model_dir:
        log(f"error: --model {family} needs --model-dir (the folder of the saved model)")
        return 2
    if args.bag is None and args.topic:
        log("error: --topic needs --bag")
        return 2
    out = Path(args.out) if args.out else DEFAULT_CODEBOOK
    try:
        runtime = _runtime(args, family, log)
        pipe = Pipeline(pipeline_config(args, family, runtime))
        fingerprint = pipe.fingerprint
        tokens, summary = _tokens(args, pipe, family, runtime, out, log)
        model = pipe.family.codec_model(pipe.cfg) if metric == "model" else None
        config = _fit_config(args)
        log(f"fitting on tokens {tuple(tokens.shape)} ({family}, metric: {metric})")
        t0 = time.perf_counter()
        ae = MetaAutoEncoder.fit(tokens, model=model, **config)
        fit_s = time.perf_counter() - t0
    except ModelSetupError as exc:
        log(f"error: {exc}")
        return 2
    except (ValueError, FileNotFoundError, RuntimeError, OSError) as exc:
        log(f"error: {exc}")
        return 2
    ae.provenance = {
        "command": _command_line(args), "tokens": list(tokens.shape), "metric": metric,
        "model": dict(pipe.model_provenance(), token_shape=list(tokens.shape[1:])),
        "calibration": summary, "fit_seconds": round(fit_s, 2),
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    ae.save(out)
    log(f"codebook {ae.codebook_id} for {family} (fingerprint {fingerprint}) -> {out}.npz/.json "
        f"(fit {fit_s:.1f} s, steps {[round(s, 4) for s in ae.base_steps]})")
    return 0


def register(commands, groups) -> None:
    p = commands.add_parser("calibrate", help="fit a codec codebook (Meta AutoEncoder) for a model from images")
    src = p.add_argument_group("calibration images")
    src.add_argument("--easy-vqa", type=_positive, default=None, metavar="N", help="first N easy-VQA training images")
    src.add_argument("--photos", action="store_true", help="scikit-image's bundled photos + augmented crops")
    src.add_argument("--photo-variants", type=_positive, default=40, metavar="K",
                     help="images per bundled photo (1 original + K-1 crops/flips/jitter; default 40)")
    src.add_argument("--images", action="append", metavar="DIR|GLOB", help="image files (repeatable)")
    src.add_argument("--bag", default=None, metavar="DIR", help="rosbag2 directory with camera frames")
    src.add_argument("--topic", default=None, help="image topic in --bag (default: the first image topic)")
    src.add_argument("--bag-every", type=_positive, default=1, metavar="N", help="use every N-th bag frame")
    src.add_argument("--max-bag-frames", type=_positive, default=None, metavar="N")
    src.add_argument("--tokens", default=None, metavar="FILE.npy", help="precomputed tokens [N, T, D] instead of images")
    add_model_arguments(p, "auto", ["auto", "torch", "onnx", "onnx-int8"], legacy_metric_values=True)
    p.add_argument("--metric", default="model", choices=["model", "none"],
                   help="weight errors by what the model reads first (default) or not at all")
    run_g = p.add_argument_group("run")
    run_g.add_argument("--max-minutes", type=_positive_float, default=None,
                       help="stop encoding after this long and fit on what is there (rerun to continue)")
    run_g.add_argument("--max-images", type=_positive, default=None, help="use at most this many images")
    run_g.add_argument("--no-cache", action="store_true", help="do not read or write the token cache (OUT.cache/)")
    cfg = p.add_argument_group("codec")
    cfg.add_argument("--out", default=None, help="output path stem (default: the shipped codebook)")
    cfg.add_argument("--budgets", type=_int_list, default=None,
                     help="per-layer byte budgets, one per layer of the plan (default plan: 256,256,512,1024,4096)")
    cfg.add_argument("--layer-levels", default=None, help="pyramid levels per layer, e.g. 01,2,012,012")
    cfg.add_argument("--level-weights", type=_float_list, default=None, help="error weight per pyramid level, e.g. 8,2,1")
    cfg.add_argument("--detail-components", type=_positive, default=None, help="channel components of the detail level")
    p.add_argument("--seed", type=int, default=0, help="seed of the photo augmentations")
    p.set_defaults(func=run, parser=p)
