"""Open questions about any photo, answered from tokens with the ImageNet head and MiniLM.

Intents (router.presence_target): "is there a X?" -> X is embedded with MiniLM and matched to the
categories (labels.CATEGORIES) and the 1000 class names; the probability that X is in view is the
summed softmax mass of the matched classes. Anything else -> a description of the most likely classes.
"""
from __future__ import annotations

import hashlib

import numpy as np

from prosem_core.models.answer import Answer
from prosem_core.models.imagenet_head import ImageNetHead
from prosem_core.models.labels import CATEGORIES, category_of, imagenet_labels
from prosem_core.models.paths import model_dir
from prosem_core.models.router import presence_target

MATCH_MIN_COSINE = 0.55  # below this MiniLM match, X is not something the ImageNet head knows
YES_MIN_PROB = 0.25  # summed probability of X's classes needed to say "yes"


def _article(word: str) -> str:
    return "an" if word[:1].lower() in "aeiou" else "a"


class OpenVQA:
    def __init__(self, embedder=None):
        from prosem_core.models.text_embed import shared_embedder

        self.head = ImageNetHead()
        self.labels = imagenet_labels()
        self.embedder = embedder or shared_embedder()
        self.names = list(CATEGORIES) + list(self.labels)
        self.members = [np.array(v) for v in CATEGORIES.values()] + [np.array([i]) for i in range(len(self.labels))]
        self.name_vecs = self._name_embeddings()

    def _name_embeddings(self) -> np.ndarray:
        """MiniLM vectors of category and class names, cached on disk (keyed by the names' hash)."""
        key = hashlib.sha256("\n".join(self.names).encode()).hexdigest()[:16]
        path = model_dir() / "cache" / f"label_embeddings_{key}.npy"
        if path.is_file():
            vecs = np.load(path, allow_pickle=False)
            if vecs.shape == (len(self.names), self.embedder.dim):
                return vecs
        vecs = self.embedder.embed(self.names)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.stem + ".tmp.npy")
        np.save(tmp, vecs)
        tmp.replace(path)
        return vecs

    def describe(self, probs: np.ndarray) -> Answer:
        top = np.argsort(-probs)[:3]
        best = int(top[0])
        name = self.labels[best]
        cat = category_of(best)
        cat_p = float(probs[CATEGORIES[cat]].sum()) if cat else float(probs[best])
        if cat and cat not in name.lower() and cat_p > probs[best] + 0.05:
            text = f"I see {_article(cat)} {cat} (most likely {_article(name)} {name}, {probs[best]:.0%})."
        else:
            text = f"I see {_article(name)} {name} ({probs[best]:.0%})."
        others = [self.labels[int(i)] for i in top[1:] if probs[int(i)] >= 0.05]
        if others:
            text = text[:-1] + f"; it could also be {' or '.join(others)}."
        return Answer(text=text, confidence=max(float(probs[best]), cat_p if cat else 0.0), label=name, route="open",
                      details={"intent": "describe", "top": [(self.labels[int(i)], float(probs[int(i)])) for i in top]})

    def presence(self, probs: np.ndarray, target: str) -> Answer:
        q = self.embedder.embed([target])[0]
        sims = self.name_vecs @ q
        j = int(np.argmax(sims))
        best = self.labels[int(np.argmax(probs))]
        if sims[j] < MATCH_MIN_COSINE:
            return Answer(text=f"I can't tell: '{target}' is not among the things I recognise; I see {_article(best)} {best}.",
                          confidence=0.0, label="unknown", route="open",
                          details={"intent": "presence", "target": target, "match": self.names[j], "match_cosine": float(sims[j])})
        members = self.members[j]
        p = float(probs[members].sum())
        top_member = self.labels[int(members[np.argmax(probs[members])])]
        if p >= YES_MIN_PROB:
            text = f"Yes, I see {_article(top_member)} {top_member} ({p:.0%})."
            label, conf = "yes", p
        else:
            text = f"No, I don't see {_article(target)} {target} ({p:.0%}); I see {_article(best)} {best}."
            label, conf = "no", 1.0 - p
        return Answer(text=text, confidence=conf, label=label, route="open",
                      details={"intent": "presence", "target": target, "match": self.names[j],
                               "match_cosine": float(sims[j]), "probability": p, "top_member": top_member})

    def answer(self, tokens: np.ndarray, question: str) -> Answer:
        probs = self.head.probs(tokens)
        target = presence_target(question)
        return self.presence(probs, target) if target else self.describe(probs)
