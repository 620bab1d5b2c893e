"""Train the easy-VQA answer head on frozen encoder tokens (torch; seeded, reproducible).

The torch module mirrors `vqa_head.VQAHead` exactly; after training its weights are copied into a
numpy `VQAHead` and saved as safetensors. Fixed epochs, no early stopping: the test split is only
used to report accuracy, never to pick a model.
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass

import numpy as np
import torch
from torch import nn

from prosem_core.models.datasets import easy_vqa_questions, easy_vqa_token_subset, easy_vqa_tokens, tokens_for_questions
from prosem_core.models.question_text import bag_of_words, build_vocab
from prosem_core.models.vqa_head import VQAHead, VQAHeadConfig


@dataclass
class TrainConfig:
    seed: int = 0
    epochs: int = 8
    batch_size: int = 256
    lr: float = 2e-3
    weight_decay: float = 1e-4
    dropout: float = 0.2
    token_runtime: str = "onnx"  # which encoder's cached tokens to train on
    threads: int = 2
    images: int | None = None  # None: all 4,000 training images; n: a seeded subset (quick runs, tests)


class _TorchHead(nn.Module):
    def __init__(self, cfg: VQAHeadConfig, vocab_size: int, num_answers: int, dropout: float):
        super().__init__()
        self.tok = nn.Linear(cfg.token_dim, cfg.token_hidden)
        self.img = nn.Linear(2 * cfg.token_hidden, cfg.hidden)
        self.q = nn.Linear(vocab_size, cfg.hidden)
        self.mix = nn.Linear(cfg.hidden, cfg.mix_hidden)
        self.out = nn.Linear(cfg.mix_hidden, num_answers)
        self.drop = nn.Dropout(dropout)

    def forward(self, tokens: torch.Tensor, bow: torch.Tensor) -> torch.Tensor:
        z = torch.relu(self.tok(tokens))
        pooled = torch.cat([z.mean(dim=1), z.amax(dim=1)], dim=1)
        img = torch.relu(self.img(self.drop(pooled)))
        q = torch.relu(self.q(bow))
        h = torch.relu(self.mix(self.drop(img * q)))
        return self.out(h)

    def to_numpy(self) -> dict[str, np.ndarray]:
        pairs = {"tok": self.tok, "img": self.img, "q": self.q, "mix": self.mix, "out": self.out}
        out = {}
        for key, layer in pairs.items():
            out[f"W_{key}"] = layer.weight.detach().numpy().astype(np.float32)
            out[f"b_{key}"] = layer.bias.detach().numpy().astype(np.float32)
        return out


def evaluate(head: VQAHead, split: str = "test", runtime: str = "onnx", limit: int | None = None, seed: int = 0) -> float:
    data = easy_vqa_questions(split)
    ids, tokens = easy_vqa_tokens(split, runtime)
    rows = np.arange(len(data.questions))
    if limit is not None and limit < len(rows):
        rows = np.sort(np.random.default_rng(seed).choice(rows, size=limit, replace=False))
    pos = tokens_for_questions(ids, tokens, data.image_ids[rows])
    pred, _ = head.predict(np.asarray(tokens, dtype=np.float32), [data.questions[i] for i in rows], pos)
    return float(np.mean(pred == data.answer_index[rows]))


def train(cfg: TrainConfig = TrainConfig(), head_cfg: VQAHeadConfig = VQAHeadConfig(), log=print) -> VQAHead:
    torch.manual_seed(cfg.seed)
    np.random.seed(cfg.seed)
    torch.set_num_threads(cfg.threads)
    data = easy_vqa_questions("train")
    vocab = build_vocab(data.questions)  # always the full split's vocabulary
    if cfg.images is None:
        ids, tokens = easy_vqa_tokens("train", cfg.token_runtime)
    else:
        ids, tokens = easy_vqa_token_subset("train", cfg.token_runtime, cfg.images, cfg.seed)
    rows = np.flatnonzero(np.isin(data.image_ids, ids))
    tokens_t = torch.from_numpy(np.array(tokens, dtype=np.float32))  # a writable copy of the memory map
    bow = torch.from_numpy(bag_of_words([data.questions[i] for i in rows], vocab))
    pos = torch.from_numpy(tokens_for_questions(ids, tokens, data.image_ids[rows]))
    target = torch.from_numpy(data.answer_index[rows])
    model = _TorchHead(head_cfg, len(vocab), len(data.answer_names), cfg.dropout)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    steps = cfg.epochs * ((len(target) + cfg.batch_size - 1) // cfg.batch_size)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=cfg.lr, total_steps=steps)
    gen = torch.Generator().manual_seed(cfg.seed)
    losses: list[float] = []
    for epoch in range(cfg.epochs):
        start, total, correct, seen = time.perf_counter(), 0.0, 0, 0
        model.train()
        for batch in torch.randperm(len(target), generator=gen).split(cfg.batch_size):
            logits = model(tokens_t[pos[batch]], bow[batch])
            loss = nn.functional.cross_entropy(logits, target[batch])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            total += float(loss.detach()) * len(batch)
            correct += int((logits.argmax(1) == target[batch]).sum())
            seen += len(batch)
        log(f"epoch {epoch + 1}/{cfg.epochs}: loss {total / seen:.4f} train acc {correct / seen:.4f} ({time.perf_counter() - start:.1f} s)")
        losses.append(total / seen)
    model.eval()
    head = VQAHead(head_cfg, model.to_numpy(), vocab, data.answer_names)
    head.train_info = {**asdict(cfg), "epoch_losses": losses}
    return head
