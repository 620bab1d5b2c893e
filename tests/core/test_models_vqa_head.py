"""The numpy answer head computes what the torch training module computes; files round-trip."""
from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from prosem_core.models.question_text import bag_of_words, build_vocab, words  # noqa: E402
from prosem_core.models.train_vqa_head import _TorchHead  # noqa: E402
from prosem_core.models.vqa_head import VQAHead, VQAHeadConfig  # noqa: E402

QUESTIONS = ["what color is the shape?", "is there not a red circle?", "what shape is in the image?"]
ANSWERS = ["circle", "red", "yes", "no"]


@pytest.fixture(scope="module")
def pair():
    torch.manual_seed(0)
    cfg = VQAHeadConfig(token_hidden=16, hidden=24, mix_hidden=20)
    vocab = build_vocab(QUESTIONS)
    module = _TorchHead(cfg, len(vocab), len(ANSWERS), dropout=0.5).eval()
    return module, VQAHead(cfg, module.to_numpy(), vocab, ANSWERS), vocab


def test_numpy_head_matches_torch_module(pair):
    module, head, vocab = pair
    rng = np.random.default_rng(0)
    tokens = rng.uniform(0, 6, size=(3, 49, 1280)).astype(np.float32)
    with torch.no_grad():
        ref = module(torch.from_numpy(tokens), torch.from_numpy(bag_of_words(QUESTIONS, vocab))).numpy()
    np.testing.assert_allclose(head.logits(tokens, QUESTIONS), ref, rtol=1e-4, atol=1e-4)
    # shared image for all questions, and explicit image_index, agree with the per-row path
    np.testing.assert_allclose(head.logits(tokens[1], QUESTIONS), head.logits(tokens, QUESTIONS, [1, 1, 1]), atol=1e-6)


def test_save_load_round_trip(pair, tmp_path):
    _, head, _ = pair
    head.save(tmp_path / "h.safetensors", extra={"seed": 0})
    back = VQAHead.load(tmp_path / "h.safetensors")
    assert back.vocab == head.vocab and back.answers == head.answers and back.train_info == {"seed": 0}
    for k in head.p:
        np.testing.assert_array_equal(back.p[k], head.p[k])


def test_bad_image_index_raises(pair):
    _, head, _ = pair
    tokens = np.zeros((2, 49, 1280), np.float32)
    with pytest.raises(ValueError, match="image_index"):
        head.logits(tokens, QUESTIONS, [0, 1, 2])


def test_user_spellings_fold_onto_training_words():
    assert words("What COLOUR is the square?") == ["what", "color", "is", "the", "rectangle"]
    assert words("isn't there a grey shape") == ["is", "not", "there", "a", "gray", "shape"]


def test_shipped_head_records_how_it_was_trained():
    from prosem_core.models.paths import DATA_DIR, VQA_HEAD_FILE

    head = VQAHead.load(DATA_DIR / VQA_HEAD_FILE)
    assert head.train_info["seed"] == 0 and head.train_info["test_accuracy"] >= 0.94
    assert (DATA_DIR / VQA_HEAD_FILE).stat().st_size < 2_000_000


def test_training_is_seeded_and_reproducible():
    from prosem_core.models.train_vqa_head import TrainConfig, train

    cfg = TrainConfig(images=30, epochs=3, batch_size=64, threads=1, seed=5)
    a = train(cfg, log=lambda _s: None)
    b = train(cfg, log=lambda _s: None)
    for k in a.p:
        np.testing.assert_array_equal(a.p[k], b.p[k])  # bitwise: same seed, same threads
    losses = a.train_info["epoch_losses"]
    assert losses[-1] < losses[0]  # it learns
    c = train(TrainConfig(images=30, epochs=1, batch_size=64, threads=1, seed=6), log=lambda _s: None)
    assert not np.array_equal(c.p["W_tok"], a.p["W_tok"])
