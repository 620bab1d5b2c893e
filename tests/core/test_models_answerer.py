"""Default answerer: easy-VQA accuracy on a seeded test subset, the cat photo, routing, the
first linear map, and clear errors on bad tokens / questions / missing weights."""
from __future__ import annotations

import numpy as np
import pytest
from models_helpers import easy_vqa_sample, ensure_onnx

from prosem_core.models.answerer import DefaultAnswerer
from prosem_core.models.encoder import build_encoder
from prosem_core.models.paths import ModelFileMissing
from prosem_core.models.router import presence_target, route
from prosem_core.models.sample_images import cat_photo


@pytest.fixture(scope="module")
def answerer():
    return DefaultAnswerer()


@pytest.fixture(scope="module")
def encoder():
    ensure_onnx()
    return build_encoder("onnx")


@pytest.fixture(scope="module")
def cat_tokens(encoder):
    return encoder.encode(cat_photo())


def test_easy_vqa_accuracy_on_seeded_test_subset(answerer, encoder):
    images, questions, answers, img_index = easy_vqa_sample(60, seed=1)
    tokens = encoder.encode_batch(images)
    pred, conf = answerer.answer_shapes_batch(tokens, questions, img_index)
    acc = np.mean([p == a for p, a in zip(pred, answers)])
    assert len(questions) > 400
    assert acc >= 0.94, acc  # full test split: see `prosem bench vqa`
    assert np.all((conf > 0) & (conf <= 1))


def test_single_answer_path_equals_batch_path(answerer, encoder):
    images, questions, answers, img_index = easy_vqa_sample(3, seed=2)
    tokens = encoder.encode_batch(images)
    batch, _ = answerer.answer_shapes_batch(tokens, questions, img_index)
    for i, q in enumerate(questions):
        a = answerer.answer(tokens[img_index[i]], q)
        assert a.route == "shapes" and a.text == batch[i] and a.label == batch[i]


def test_cat_photo_gets_a_cat_label(answerer, cat_tokens):
    ans = answerer.answer(cat_tokens, "what is in the image?")
    assert ans.route == "open"
    assert ans.label in {"tabby", "tiger cat", "Persian cat", "Siamese cat", "Egyptian cat"}
    assert "cat" in ans.text and ans.confidence > 0.5


@pytest.mark.parametrize("question, expect", [
    ("is there a cat?", "yes"), ("Is there a kitten in the picture?", "yes"), ("do you see a dog?", "no"),
    ("does the image contain a car?", "no"), ("is there an animal?", "yes"),
])
def test_presence_questions_on_the_cat(answerer, cat_tokens, question, expect):
    ans = answerer.answer(cat_tokens, question)
    assert ans.route == "open" and ans.label == expect, ans.text
    assert ans.text.lower().startswith(expect)


def test_unknown_object_is_said_so(answerer, cat_tokens):
    ans = answerer.answer(cat_tokens, "is there a quasar?")
    assert ans.label == "unknown" and "not among" in ans.text


@pytest.mark.parametrize("question, expected", [
    ("what color is the shape?", "shapes"), ("What colour is the shape?", "shapes"),
    ("is there a red shape?", "shapes"), ("does the image not contain a circle?", "shapes"),
    ("what shape does the image contain?", "shapes"), ("Is there a square in this picture?", "shapes"),
    ("what is in the image?", "open"), ("is there a cat?", "open"), ("is there a red car?", "open"),
    ("describe the scene", "open"), ("what color is the cat?", "open"),
])
def test_routing(answerer, question, expected):
    assert route(question, set(answerer.head.vocab)) == expected


def test_presence_target_extraction():
    assert presence_target("Is there a cat?") == "cat"
    assert presence_target("do you see any red cars in the image?") == "red cars"
    assert presence_target("does the photo show an elephant") == "elephant"
    assert presence_target("what is in the image?") is None


def test_first_linear_map(answerer):
    m = answerer.first_linear_map()
    h = answerer.head.cfg.token_hidden
    assert m.shape == (h + 1000, 1280) and m.dtype == np.float32
    # each block scaled to unit Frobenius norm
    assert np.linalg.norm(m[:h]) == pytest.approx(1.0, rel=1e-4)
    assert np.linalg.norm(m[h:]) == pytest.approx(1.0, rel=1e-4)
    np.testing.assert_allclose(m[:h] * np.linalg.norm(answerer.head.p["W_tok"]), answerer.head.p["W_tok"], rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("tokens", [np.zeros((4, 1280), np.float32), np.zeros((49, 384), np.float32),
                                    np.full((49, 1280), np.nan, np.float32)])
def test_bad_tokens_raise(answerer, tokens):
    with pytest.raises(ValueError):
        answerer.answer(tokens, "what is in the image?")


def test_empty_question_raises(answerer, cat_tokens):
    with pytest.raises(ValueError, match="question"):
        answerer.answer(cat_tokens, "  ")


def test_missing_head_file_is_a_clear_error(tmp_path, cat_tokens):
    a = DefaultAnswerer(head_path=tmp_path / "nope.safetensors")
    with pytest.raises(ModelFileMissing, match="prosem train vqa-head"):
        a.answer(cat_tokens, "what color is the shape?")


def test_foreign_file_is_rejected(tmp_path):
    from safetensors.numpy import save_file

    from prosem_core.models.vqa_head import VQAHead

    path = tmp_path / "other.safetensors"
    save_file({"x": np.zeros(3, np.float32)}, str(path), metadata={"format": "something-else"})
    with pytest.raises(ValueError, match="not a ProSem answer head"):
        VQAHead.load(path)


def test_cloud_answerer_runs_without_torch(answerer, cat_tokens, tmp_path):
    """With the ONNX exports and caches in place, open questions need neither torch nor transformers."""
    import subprocess
    import sys
    import textwrap

    answerer.warm_up()  # builds the caches (ImageNet head, label vectors) in this process first
    np.save(tmp_path / "cat.npy", cat_tokens)
    code = textwrap.dedent(f"""
        import sys
        sys.modules["torch"] = None
        sys.modules["transformers"] = None
        import numpy as np
        from prosem_core.models.answerer import DefaultAnswerer
        a = DefaultAnswerer()
        t = np.load({str(tmp_path / "cat.npy")!r})
        print(a.answer(t, "is there a cat?").label, a.answer(t, "what color is the shape?").route)
    """)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["yes", "shapes"]
