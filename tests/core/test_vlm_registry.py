"""The model registry picks families by name; options that do not apply to a family are refused with
one line naming the fix; node-style parameter dicts become PipelineConfigs."""
from __future__ import annotations

import pytest

from prosem_core.models.errors import ModelOptionError, ModelSetupError
from prosem_core.models.registry import FAMILIES, get_family
from prosem_core.pipeline import Pipeline, PipelineConfig, default_pipeline


def test_registry_names_each_family_once_and_resolves_it():
    assert set(FAMILIES) == {"default", "smolvlm", "llava"}
    for name in FAMILIES:
        fam = get_family(name)
        assert fam.name == name and "onnx" in fam.runtimes
    assert get_family("smolvlm").layout == "idefics3" and get_family("llava").layout == "clip"
    with pytest.raises(ValueError, match="unknown model 'gpt'"):
        get_family("gpt")


def test_pipeline_picks_the_family_from_the_config():
    assert default_pipeline().family is get_family("default")
    p = Pipeline(PipelineConfig(model="llava", model_dir="/nowhere"))  # lazy: nothing is read yet
    assert p.family is get_family("llava") and p.loaded() == {"encoder": False, "codec": False, "answerer": False}


@pytest.mark.parametrize("kwargs,match", [
    (dict(model="gpt"), "unknown model 'gpt'"),
    (dict(model="smolvlm"), "needs a model directory"),
    (dict(model="smolvlm", model_dir="/m", runtime="tflite"), "runtime 'tflite'"),
    (dict(model="llava", model_dir="/m", image_splitting=True), "image_splitting"),
    (dict(model="smolvlm", model_dir="/m", answer_head="head.safetensors"), "answer_head"),
    (dict(model="smolvlm", model_dir="/m", resize_mode="crop"), "resize_mode"),
    (dict(model="smolvlm", model_dir="/m", max_new_tokens=0), "max_new_tokens"),
    (dict(model="smolvlm", model_dir="/m", llava_projector_on_edge=False), "llava only"),
    (dict(model="default", model_dir="/m"), "model_dir"),
    (dict(model="default", image_splitting=True), "image_splitting"),
    (dict(threads=0), "threads"),
])
def test_options_that_do_not_apply_are_refused_in_one_line(kwargs, match):
    with pytest.raises(ModelOptionError, match=match) as err:
        Pipeline(PipelineConfig(**kwargs))
    assert isinstance(err.value, (ModelSetupError, ValueError))
    assert "\n" not in str(err.value) and "; fix: " in str(err.value)


def test_config_from_node_parameters():
    cfg = PipelineConfig.from_dict({"model": "smolvlm", "model_dir": "/m", "codebook": "", "threads": 0,
                                    "split_grid": [2, 3], "image_splitting": True})
    assert cfg.codebook is None and cfg.threads is None and cfg.split_grid == (2, 3)
    with pytest.raises(ModelOptionError, match="unknown pipeline option.*'backend'"):
        PipelineConfig.from_dict({"model": "smolvlm", "backend": "smolvlm"})
