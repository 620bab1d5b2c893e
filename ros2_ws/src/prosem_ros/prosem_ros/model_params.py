"""The node parameters that pick and configure the model (bring your own VLM), one definition for the
edge and the cloud, and the Pipeline they describe.

    ros2 launch prosem_bringup edge.launch.py model:=smolvlm model_dir:=/models/SmolVLM-256M-Instruct \
        codebook:=/models/smolvlm_cb
"""
from __future__ import annotations

from typing import Any

from prosem_core.models.encoder import RUNTIMES
from prosem_core.models.registry import family_names
from prosem_core.pipeline import Pipeline, PipelineConfig
from prosem_ros.params import ParamSpec

MODEL_PARAMS = [
    ParamSpec("model", "default", "model family whose halves run here (the edge runs its vision half, the cloud its "
              "language half; both must name the same model)", choices=family_names(), read_only=True),
    ParamSpec("model_dir", "", "folder of a saved Hugging Face model (VLM families); never downloaded", read_only=True),
    ParamSpec("runtime", "onnx", "runtime of the vision half: onnx (fp32), onnx-int8 (what an NPU runs) or torch",
              choices=RUNTIMES, read_only=True),
    ParamSpec("onnx_dir", "", "VLMs: folder of the ONNX export of the vision half ('' = MODEL_DIR/prosem_onnx)",
              read_only=True),
    ParamSpec("threads", 1, "CPU threads of the model halves (0 = the runtime's default)", 0, 256, read_only=True),
    ParamSpec("codebook", "", "Meta AutoEncoder codebook stem (.npz/.json) calibrated for this model; '' = the "
              "model's shipped one (only the default model ships one)", read_only=True),
    ParamSpec("answer_head", "", "default model: answer head file; '' = the shipped one", read_only=True),
    ParamSpec("resize_mode", "processor", "VLMs: the model's own resize chain, or one direct resize (cheaper)",
              choices=("processor", "direct"), read_only=True),
    ParamSpec("image_splitting", False, "SmolVLM: tiles + a global view (13 views) instead of one view", read_only=True),
    ParamSpec("max_new_tokens", 24, "generative models: answer length budget (a query may ask for another)", 1, 4096,
              read_only=True),
]


def pipeline_from_params(values: dict[str, Any], runtime: str | None = None) -> Pipeline:
    """The Pipeline these parameter values describe (ModelOptionError, a ValueError, for bad options)."""
    return Pipeline(PipelineConfig.from_dict({
        "model": values["model"], "model_dir": values["model_dir"], "runtime": runtime or values["runtime"],
        "onnx_dir": values["onnx_dir"], "threads": values["threads"], "codebook": values["codebook"],
        "answer_head": values["answer_head"], "resize_mode": values["resize_mode"],
        "image_splitting": values["image_splitting"], "max_new_tokens": values["max_new_tokens"]}))
