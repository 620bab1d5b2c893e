"""The edge's numpy/PIL image preprocessing equals the transformers image processors of the pinned
version bit for bit, with the settings the real SmolVLM-256M and LLaVA-1.5 checkpoints ship."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("transformers")

from prosem_core.models.vlm.base import (
    VlmInputError,  # noqa: E402
    VlmLoadError,  # noqa: E402
)
from prosem_core.models.vlm.preprocess import build_pixel_prep, prepare_pixels  # noqa: E402

# As in SmolVLM-256M-Instruct's preprocessor_config.json (splitting off: one global view per frame).
SMOLVLM_256M = {"do_convert_rgb": True, "do_image_splitting": False, "do_normalize": True, "do_pad": True,
                "do_rescale": True, "do_resize": True, "image_mean": [0.5, 0.5, 0.5], "image_std": [0.5, 0.5, 0.5],
                "max_image_size": {"longest_edge": 512}, "resample": 1, "rescale_factor": 1 / 255,
                "size": {"longest_edge": 2048}}
# As in llava-1.5's CLIP preprocessor (336 px, bicubic, CLIP statistics).
LLAVA_15 = {"crop_size": {"height": 336, "width": 336}, "do_center_crop": True, "do_normalize": True,
            "do_rescale": True, "do_resize": True, "image_mean": [0.48145466, 0.4578275, 0.40821073],
            "image_std": [0.26862954, 0.26130258, 0.27577711], "resample": 3, "rescale_factor": 1 / 255,
            "size": {"shortest_edge": 336}}


def _photo(h: int, w: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    img = np.stack([xx * 255 // max(w - 1, 1), yy * 255 // max(h - 1, 1), (xx + yy) % 256], -1).astype(np.int32)
    return np.clip(img + rng.integers(-20, 21, img.shape), 0, 255).astype(np.uint8)


@pytest.mark.parametrize("hw", [(480, 640), (500, 333), (64, 64), (17, 900)])
def test_smolvlm_pixels_match_the_idefics3_processor(hw):
    from transformers.models.idefics3.image_processing_pil_idefics3 import Idefics3ImageProcessorPil

    img = _photo(*hw, seed=hw[0])
    ref = Idefics3ImageProcessorPil(**SMOLVLM_256M)(images=[[img]], return_tensors="np")["pixel_values"][0, 0]
    got = prepare_pixels(img, build_pixel_prep(SMOLVLM_256M, "idefics3", tower_size=512))
    assert got.shape == (3, 512, 512) and got.dtype == np.float32
    assert np.array_equal(got, ref)


@pytest.mark.parametrize("hw", [(480, 640), (500, 333), (336, 336), (100, 120)])
@pytest.mark.parametrize("pad", [False, True])
def test_llava_pixels_match_the_llava_processor(hw, pad):
    from transformers.models.llava.image_processing_pil_llava import LlavaImageProcessorPil

    settings = dict(LLAVA_15, do_pad=pad)
    img = _photo(*hw, seed=hw[1])
    ref = LlavaImageProcessorPil(**settings)(images=[img], return_tensors="np")["pixel_values"][0]
    got = prepare_pixels(img, build_pixel_prep(settings, "clip", tower_size=336))
    assert got.shape == (3, 336, 336)
    assert np.array_equal(got, ref)


def test_direct_resize_is_one_cheap_resize_close_to_the_processor_chain():
    img = _photo(480, 640, seed=1)
    chain = prepare_pixels(img, build_pixel_prep(SMOLVLM_256M, "idefics3", 512, resize_mode="processor"))
    direct = prepare_pixels(img, build_pixel_prep(SMOLVLM_256M, "idefics3", 512, resize_mode="direct"))
    assert direct.shape == chain.shape
    assert not np.array_equal(direct, chain)  # really a different (cheaper) path
    assert np.abs(direct - chain).mean() < 0.05  # on a [-1, 1] scale: the same picture


def test_settings_that_do_not_fit_the_tower_are_refused():
    with pytest.raises(VlmLoadError, match="max_image_size"):
        build_pixel_prep(SMOLVLM_256M, "idefics3", tower_size=384)
    with pytest.raises(VlmLoadError, match="vision tower"):
        build_pixel_prep(LLAVA_15, "clip", tower_size=224)
    with pytest.raises(VlmLoadError, match="image_std"):
        build_pixel_prep(dict(LLAVA_15, image_std=[0.2, 0.0, 0.2]), "clip", tower_size=336)
    with pytest.raises(VlmLoadError, match="resample"):
        build_pixel_prep(dict(LLAVA_15, resample=42), "clip", tower_size=336)


def test_bad_images_are_refused():
    prep = build_pixel_prep(LLAVA_15, "clip", tower_size=336)
    with pytest.raises(VlmInputError, match="uint8"):
        prepare_pixels(np.zeros((10, 10, 3), np.float32), prep)
    with pytest.raises(VlmInputError, match="RGB"):
        prepare_pixels(np.zeros((10, 10, 4), np.uint8), prep)
    with pytest.raises(VlmInputError, match="numpy"):
        prepare_pixels([[0, 0, 0]], prep)
    with pytest.raises(VlmInputError, match="empty"):
        prepare_pixels(np.zeros((0, 10, 3), np.uint8), prep)


@pytest.mark.parametrize("hw", [(480, 640), (720, 1280), (640, 480), (600, 600)])
def test_image_splitting_matches_the_idefics3_processor(hw):
    # The processor picks the tile grid from the frame; for a frame whose grid is the configured one the
    # edge's tiles + global view equal the processor's pixels exactly.
    from transformers.models.idefics3.image_processing_pil_idefics3 import Idefics3ImageProcessorPil

    from prosem_core.models.vlm.preprocess import prepare_views, split_grid_for

    settings = dict(SMOLVLM_256M, do_image_splitting=True)
    img = _photo(*hw, seed=hw[1])
    out = Idefics3ImageProcessorPil(**settings)(images=[[img]], return_tensors="np", return_row_col_info=True)
    prep = build_pixel_prep(SMOLVLM_256M, "idefics3", tower_size=512)
    grid = split_grid_for(*hw, prep)
    assert grid == (out["rows"][0][0], out["cols"][0][0])
    got = prepare_views(img, prep, grid)
    assert got.shape == (grid[0] * grid[1] + 1, 3, 512, 512)
    assert np.array_equal(got, out["pixel_values"][0])


def test_default_split_grid_is_13_views_for_smolvlm_256m():
    from prosem_core.models.vlm.preprocess import DEFAULT_SPLIT_FRAME_HW, split_grid_for

    assert split_grid_for(*DEFAULT_SPLIT_FRAME_HW, build_pixel_prep(SMOLVLM_256M, "idefics3", 512)) == (3, 4)
    with pytest.raises(VlmLoadError, match="SmolVLM"):
        split_grid_for(480, 640, build_pixel_prep(LLAVA_15, "clip", tower_size=336))


def test_siglip_style_fixed_size_matches_its_processor():
    # llava-interleave-qwen's image processor: one resize to 384 x 384, no crop.
    from transformers.models.siglip.image_processing_pil_siglip import SiglipImageProcessorPil

    settings = {"do_normalize": True, "do_rescale": True, "do_resize": True, "image_mean": [0.5] * 3,
                "image_std": [0.5] * 3, "resample": 3, "rescale_factor": 1 / 255, "size": {"height": 384, "width": 384}}
    img = _photo(480, 640, seed=5)
    ref = SiglipImageProcessorPil(**settings)(images=[img], return_tensors="np")["pixel_values"][0]
    assert np.array_equal(prepare_pixels(img, build_pixel_prep(settings, "clip", tower_size=384)), ref)
