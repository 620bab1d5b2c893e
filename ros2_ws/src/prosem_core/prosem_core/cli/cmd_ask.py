"""`prosem ask --image PATH --question "..."`: answer a question about a photo, offline, at every prefix.

Runs a whole pipeline in one process: encode (edge), codec layers, then for every prefix k the decoded
tokens are answered (cloud). Prints bytes, fidelity and the answer per prefix, and the uncompressed
answer, plus start-up time (model loading) vs per-answer time. Any model:

    prosem ask --image cat.png --question "what is in the image?"                      # built-in model
    prosem ask --model smolvlm --model-dir /models/SmolVLM-256M-Instruct --codebook /models/smolvlm_cb \
        --image cat.png --question "what is in the image?"
"""
from __future__ import annotations

import argparse
import json
import sys
import time

from prosem_core.cli.model_args import add_model_arguments, family_from_args, pipeline_config


def _load_image(path: str):
    import numpy as np
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            return np.asarray(im.convert("RGB"))
    except FileNotFoundError:
        raise SystemExit(f"prosem ask: no such image: {path}") from None
    except (UnidentifiedImageError, OSError) as exc:
        raise SystemExit(f"prosem ask: cannot read image {path}: {exc}") from None


def run(args: argparse.Namespace) -> int:
    from prosem_core.models.errors import ModelSetupError
    from prosem_core.pipeline import Pipeline

    if not args.question.strip():
        print("prosem ask: --question must not be empty", file=sys.stderr)
        return 2
    image = _load_image(args.image)
    t0 = time.perf_counter()
    try:
        family = family_from_args(args)
        p = Pipeline(pipeline_config(args, family, args.runtime, codebook=args.codebook,
                                     max_new_tokens=args.max_new_tokens))
        p.encoder.encode(image[:16, :16].copy())  # load + warm the encoder (first run allocates)
        if hasattr(p.answerer, "warm_up"):
            p.answerer.warm_up(args.question)  # the default model loads only what this question's route needs
    except (ModelSetupError, ValueError) as exc:
        print(f"prosem ask: {exc}", file=sys.stderr)
        return 2
    codec, codec_error = None, None
    try:
        p.check("both")
        codec = p.codec
    except ModelSetupError as exc:
        codec_error = str(exc)
    startup_s = time.perf_counter() - t0
    stream = None if args.json else (lambda text: print(f"\r  ... {text[-100:]}", end="", file=sys.stderr, flush=True))

    t1 = time.perf_counter()
    tokens = p.encoder.encode(image)
    encode_s = time.perf_counter() - t1
    t2 = time.perf_counter()
    full = p.answerer.answer(tokens, args.question, on_partial=stream)
    answer_s = time.perf_counter() - t2
    if stream:
        print(file=sys.stderr)
    rows = []
    codec_s = 0.0
    if codec is not None:
        t3 = time.perf_counter()
        layers = codec.encode(tokens)
        codec_s = time.perf_counter() - t3
        for k in range(1, len(layers) + 1):
            t4 = time.perf_counter()
            hat = codec.decode(layers[:k])
            ans = p.answerer.answer(hat, args.question)
            rows.append({"prefix": k, "bytes": sum(len(x) for x in layers[:k]), "fidelity": codec.fidelity(layers[:k]),
                         "answer": ans.text, "confidence": ans.confidence, "route": ans.route,
                         "decode_answer_s": time.perf_counter() - t4})
    report = {"image": args.image, "question": args.question, "model": p.cfg.model, "encoder": p.encoder.name,
              "uncompressed": {"bytes": int(tokens.size * 4), "answer": full.text, "label": full.label,
                               "confidence": full.confidence, "route": full.route},
              "prefixes": rows, "codec_error": codec_error,
              "timing_s": {"startup": startup_s, "encode": encode_s, "answer": answer_s, "codec_encode": codec_s,
                           "first_answer_after_startup": encode_s + answer_s}}
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    print(f"Q: {args.question}   [{p.encoder.name}, route: {full.route}]")
    if codec is None:
        print(f"(codec unavailable: {codec_error})")
    for r in rows:
        print(f"  k={r['prefix']:<2} {r['bytes']:>7} B  fidelity {r['fidelity']:.3f}  -> {r['answer']}  ({r['confidence']:.2f})")
    print(f"  raw  {tokens.size * 4:>7} B  fidelity 1.000  -> {full.text}  ({full.confidence:.2f})")
    t = report["timing_s"]
    print(f"start-up {t['startup']:.2f} s; encode {t['encode'] * 1e3:.1f} ms, answer {t['answer'] * 1e3:.1f} ms, "
          f"codec encode {t['codec_encode'] * 1e3:.1f} ms")
    return 0


def register(commands, groups) -> None:
    p = commands.add_parser("ask", help="answer a question about an image, offline, at every codec prefix")
    p.add_argument("--image", required=True, help="image file (PNG/JPEG/...)")
    p.add_argument("--question", required=True, help='free text, e.g. "what is in the image?"')
    add_model_arguments(p, "onnx", ["torch", "onnx", "onnx-int8"])
    p.add_argument("--codebook", default=None, help="codebook path (default: the model's shipped one)")
    p.add_argument("--max-new-tokens", type=int, default=24, help="VLMs: answer length budget")
    p.add_argument("--json", action="store_true", help="print a JSON report instead of text")
    p.set_defaults(func=run)
