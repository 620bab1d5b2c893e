"""`prosem calibrate`: fit a Meta AutoEncoder codebook from images (closed form, seconds).

Examples:
    prosem calibrate --easy-vqa 1000 --photos                 # the shipped default codebook
    prosem calibrate --images 'frames/*.jpg' --out my_codebook
    prosem calibrate --bag recordings/run1 --topic /camera/image_raw --out run1_codebook
    prosem calibrate --backend smolvlm --model-dir /models/SmolVLM-256M --photos --out smolvlm_cb
"""
from __future__ import annotations

import argparse
import shlex
import sys
import time
from pathlib import Path


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {text}")
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


def _collect_images(args, log) -> list:
    from prosem_core.codec import calibration_images as ci

    images = []
    if args.easy_vqa and args.backend:  # the default encoder reads easy-VQA from the token cache
        images += ci.easy_vqa_train_images(args.easy_vqa)
    if args.photos:
        images += ci.photo_variants(args.photo_variants, seed=args.seed)
    for pattern in args.images or []:
        images += list(ci.read_image_files(ci.image_files(pattern)))
    if args.bag:
        images += list(ci.bag_images(args.bag, args.topic, args.bag_every, args.max_bag_frames))
    log(f"calibration images: {len(images)}" + (f" + {args.easy_vqa} easy-VQA (token cache)" if args.easy_vqa and not args.backend else ""))
    return images


def _default_tokens(args, images, log):
    """Tokens of the default encoder (EfficientNet-Lite0) and the default answerer as `model`."""
    import numpy as np

    parts = []
    if args.easy_vqa:
        from prosem_core.models.datasets import easy_vqa_tokens

        _, tok = easy_vqa_tokens("train", args.runtime)
        if args.easy_vqa > len(tok):
            raise ValueError(f"--easy-vqa {args.easy_vqa}: only {len(tok)} training images")
        parts.append(np.asarray(tok[:args.easy_vqa], np.float32))
    if images:
        from tqdm import tqdm

        from prosem_core.models.encoder import build_encoder

        enc = build_encoder(args.runtime)
        batch = 16
        for i in tqdm(range(0, len(images), batch), desc="encoding", unit="batch", file=sys.stderr):
            parts.append(enc.encode_batch(images[i:i + batch]).astype(np.float32))
    if not parts:
        raise ValueError("no calibration data: give --easy-vqa, --photos, --images, --bag or --tokens")
    model = None
    if args.model == "answerer":
        from prosem_core.models.answerer import DefaultAnswerer

        model = DefaultAnswerer()
    return np.concatenate(parts), model


def _command_line(args: argparse.Namespace) -> str:
    """The options that differ from their defaults, as a command someone can rerun."""
    parts = ["prosem", "calibrate"]
    for action in args.parser._actions:
        if not action.option_strings or action.dest in ("help",):
            continue
        value = getattr(args, action.dest, None)
        if value == action.default or value is None:
            continue
        opt = action.option_strings[-1]
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


def run(args: argparse.Namespace) -> int:
    import numpy as np

    from prosem_core.codec import DEFAULT_CODEBOOK, MetaAutoEncoder

    def log(msg: str) -> None:
        print(msg, file=sys.stderr)

    if args.backend and not args.out:
        log("error: --backend needs --out (the shipped codebook is for the default encoder)")
        return 2
    if args.bag is None and args.topic:
        log("error: --topic needs --bag")
        return 2
    try:
        if args.tokens:
            tokens = np.load(args.tokens, allow_pickle=False)
            model = None
            if args.model == "answerer":
                from prosem_core.models.answerer import DefaultAnswerer

                model = DefaultAnswerer()
        else:
            images = _collect_images(args, log)
            if args.backend:
                if not args.model_dir or not Path(args.model_dir).is_dir():
                    log(f"error: --backend {args.backend} needs --model-dir pointing at the model folder "
                        f"(got {args.model_dir!r})")
                    return 2
                try:
                    from prosem_core.models.vlm.calibration import load_for_calibration
                except ImportError as exc:
                    log(f"error: real-VLM calibration is unavailable ({exc})")
                    return 2
                if not images:
                    log("error: no calibration images")
                    return 2
                tokens, model = load_for_calibration(args.backend, args.model_dir, images)
                if args.model == "none":
                    model = None
            else:
                tokens, model = _default_tokens(args, images, log)
        config = {}
        if args.budgets:
            config["layer_budgets"] = args.budgets
            if len(args.budgets) != 4 and not args.layer_levels:
                raise ValueError("--budgets with other than 4 layers needs --layer-levels")
        if args.layer_levels:
            config["layer_levels"] = tuple(tuple(int(c) for c in part) for part in args.layer_levels.split(","))
        if args.level_weights:
            config["level_weights"] = args.level_weights
        if args.detail_components:
            config["detail_components"] = args.detail_components
        log(f"fitting on tokens {tuple(tokens.shape)} (model: {args.model})")
        t0 = time.perf_counter()
        ae = MetaAutoEncoder.fit(tokens, model=model, **config)
        fit_s = time.perf_counter() - t0
    except (ValueError, FileNotFoundError, RuntimeError, OSError) as exc:
        log(f"error: {exc}")
        return 2
    ae.provenance = {"command": _command_line(args),
                     "tokens": list(tokens.shape), "model": args.model, "backend": args.backend or "efficientnet-lite0",
                     "fit_seconds": round(fit_s, 2), "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    out = Path(args.out) if args.out else DEFAULT_CODEBOOK
    ae.save(out)
    log(f"codebook {ae.codebook_id} -> {out}.npz/.json (fit {fit_s:.1f} s, steps {[round(s, 4) for s in ae.base_steps]})")
    return 0


def register(commands, groups) -> None:
    p = commands.add_parser("calibrate", help="fit a codec codebook (Meta AutoEncoder) from images")
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
    enc = p.add_argument_group("encoder and model")
    enc.add_argument("--runtime", default="onnx", choices=["torch", "onnx", "onnx-int8"],
                     help="default-encoder runtime computing the tokens (default onnx, the edge's)")
    enc.add_argument("--backend", default=None, choices=["smolvlm", "llava"], help="real-VLM backend instead")
    enc.add_argument("--model-dir", default=None, help="model folder for --backend")
    enc.add_argument("--model", default="answerer", choices=["answerer", "none"],
                     help="weight errors by the answerer's first linear map (default) or not at all")
    cfg = p.add_argument_group("codec")
    cfg.add_argument("--out", default=None, help="output path stem (default: the shipped codebook)")
    cfg.add_argument("--budgets", type=_int_list, default=None, help="per-layer byte budgets, e.g. 512,1024,2048,4096")
    cfg.add_argument("--layer-levels", default=None, help="pyramid levels per layer, e.g. 01,2,012,012")
    cfg.add_argument("--level-weights", type=_float_list, default=None, help="error weight per pyramid level, e.g. 8,2,1")
    cfg.add_argument("--detail-components", type=_positive, default=None, help="channel components of the detail level")
    p.add_argument("--seed", type=int, default=0, help="seed of the photo augmentations")
    p.set_defaults(func=run, parser=p)
