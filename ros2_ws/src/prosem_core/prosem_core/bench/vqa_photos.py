"""Open-question consistency on the bundled photos (scikit-image), per codec prefix.

The easy-VQA split only exercises the shapes head; this section asks the open path
("what is in the image?" and "is there a cat?") about real photos, from uncompressed tokens and from
every codec prefix, and compares the answers the same way: MiniLM cosine of the answer texts, exact
agreement of the answer labels.
"""
from __future__ import annotations

import numpy as np

QUESTIONS = ("what is in the image?", "is there a cat?")


def run(codec, answerer, encoder, embedder, log=print) -> dict:
    from prosem_core.models.sample_images import bundled_photos

    photos = bundled_photos()
    tokens = encoder.encode_batch([im for _, im in photos])
    ref = {q: [answerer.answer(t, q) for t in tokens] for q in QUESTIONS}
    rows = []
    layer_sets = [codec.encode(t, frame_seq=i) for i, t in enumerate(tokens)]
    for k in range(1, codec.layer_count + 1):
        row = {"prefix": k, "bytes_mean": float(np.mean([sum(map(len, ls[:k])) for ls in layer_sets]))}
        for q in QUESTIONS:
            got = [answerer.answer(codec.decode(ls[:k]), q) for ls in layer_sets]
            cos = embedder.cosine([a.text for a in got], [a.text for a in ref[q]])
            row[q] = {"label_agreement": float(np.mean([a.label == r.label for a, r in zip(got, ref[q])])),
                      "minilm_cosine": float(np.mean(cos))}
        rows.append(row)
        log(f"photos k={k}: " + "  ".join(f"{q!r} agree {row[q]['label_agreement']:.2f} cos {row[q]['minilm_cosine']:.3f}"
                                           for q in QUESTIONS))
    return {"photos": [name for name, _ in photos], "questions": list(QUESTIONS),
            "note": "the codebook's calibration set may contain variants of these photos (prosem calibrate --photos)",
            "uncompressed_answers": {q: [a.text for a in ref[q]] for q in QUESTIONS}, "prefixes": rows}
