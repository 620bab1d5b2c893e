"""`prosem train vqa-head`: train the easy-VQA answer head (seeded) and write its safetensors file."""
from __future__ import annotations

import argparse
import json


def run_vqa_head(args: argparse.Namespace) -> int:
    from pathlib import Path

    from prosem_core.models.paths import DATA_DIR, VQA_HEAD_FILE
    from prosem_core.models.train_vqa_head import TrainConfig, evaluate, train

    cfg = TrainConfig(seed=args.seed, epochs=args.epochs, token_runtime=args.runtime, threads=args.threads,
                      images=args.images)
    head = train(cfg)
    acc = evaluate(head, "test", args.runtime)
    out = Path(args.out) if args.out else DATA_DIR / VQA_HEAD_FILE
    out.parent.mkdir(parents=True, exist_ok=True)
    head.save(out, extra={**head.train_info, "test_accuracy": acc})
    out.chmod(0o644)  # a shipped file: readable by everyone
    print(json.dumps({"out": str(out), "test_accuracy": round(acc, 4), "bytes": out.stat().st_size}))
    return 0


def register(commands, groups) -> None:
    train_p = commands.add_parser("train", help="train the project's small models")
    sub = train_p.add_subparsers(dest="train_command", metavar="MODEL")
    train_p.set_defaults(func=lambda _a, p=train_p: (p.print_help(), 2)[1])
    p = sub.add_parser("vqa-head", help="easy-VQA answer head on frozen encoder tokens (writes safetensors)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--epochs", type=int, default=6)
    p.add_argument("--runtime", default="onnx", choices=["torch", "onnx", "onnx-int8"], help="encoder whose tokens to train on")
    p.add_argument("--threads", type=int, default=2, help="torch threads (results are bitwise reproducible per value)")
    p.add_argument("--images", type=int, default=None, help="train on a seeded subset of this many images (quick runs)")
    p.add_argument("--out", default=None, help="output file (default: the shipped prosem_core/data/vqa_head.safetensors)")
    p.set_defaults(func=run_vqa_head)
