"""The ProSem pipeline: a model's edge half (encoder) + codec (both ends) + cloud half (answerer), built lazily.

    from prosem_core.pipeline import Pipeline, PipelineConfig, default_pipeline
    p = default_pipeline()                      # the built-in model, offline; nothing is loaded yet
    p = Pipeline(PipelineConfig(model="smolvlm", model_dir="/models/SmolVLM-256M-Instruct",
                                runtime="onnx", codebook="/models/smolvlm_cb"))
    p.check("edge")                             # build what the edge needs now; ModelSetupError if not
    tokens = p.encoder.encode(rgb_uint8_hwc)    # float32 [T, D] (default: [49, 1280]; SmolVLM-256M: [64, 576])
    layers = p.codec.encode(tokens)
    ans = p.answerer.answer(p.codec.decode(layers[:k]), "what is in the image?",
                            on_partial=print, should_stop=lambda: False)
    ans.text, ans.confidence

Each component is built on first access, so the edge (encoder + codec, without torch for runtime
"onnx"/"onnx-int8") never loads the answerer, and the cloud (codec + answerer) never loads the encoder.
The model family comes from the registry (models/registry.py). Nodes call `check(role)` at start: it
builds that role's components and checks that the codebook was calibrated for this very model
(fingerprint), so a misconfigured node fails at once with one line saying what to run.
"""
from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from prosem_core.models.errors import ModelOptionError, ModelSetupError

ROLES = ("edge", "cloud", "both")


@dataclass(frozen=True)
class PipelineConfig:
    model: str = "default"  # family in models/registry.py: "default" | "smolvlm" | "llava"
    model_dir: str = ""  # VLM families: local folder of the saved model (config.json, safetensors, tokenizer)
    runtime: str = "torch"  # edge half: "torch" | "onnx" | "onnx-int8" (VLMs: the export in model_dir/prosem_onnx)
    threads: int | None = 1  # CPU threads of the model halves (None: the runtime's default)
    codebook: str | Path | None = None  # None: the model's shipped codebook (only "default" ships one)
    answer_head: str | Path | None = None  # default family: None = the shipped easy-VQA head
    resize_mode: str = "processor"  # VLMs: "processor" (the model's resize chain) | "direct" (one resize)
    image_splitting: bool = False  # SmolVLM: tiles + global view (13 views, 832 tokens for SmolVLM-256M)
    split_grid: tuple[int, int] | None = None  # SmolVLM tiles (rows, cols); None: the processor's grid for 4:3
    max_new_tokens: int = 24  # VLMs: default answer length budget (a request may ask for another)
    llava_projector_on_edge: bool = True  # LLaVA: ship projector output (True) or tower features (False)
    onnx_dir: str = ""  # VLMs: folder of the ONNX export; "" = model_dir/prosem_onnx
    prompt_template: str | None = None  # VLMs without a chat template: must hold {image} and {question}

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> PipelineConfig:
        """From node parameters or JSON: unknown keys are an error naming them; "" and 0 mean "default"
        for codebook, answer_head and threads (ROS parameters have no None)."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ModelOptionError(f"unknown pipeline option(s) {unknown}", f"use only {sorted(known)}")
        v = dict(values)
        for key in ("codebook", "answer_head", "prompt_template"):
            if key in v and v[key] in ("", None):
                v[key] = None
        if "threads" in v and not v["threads"]:
            v["threads"] = None
        if "split_grid" in v and v["split_grid"] in ("", None, [], ()):
            v["split_grid"] = None
        elif "split_grid" in v:
            v["split_grid"] = tuple(int(x) for x in v["split_grid"])
        return cls(**v)


class Pipeline:
    def __init__(self, cfg: PipelineConfig = PipelineConfig()):
        from prosem_core.models.registry import family_names, get_family

        if cfg.model not in family_names():
            raise ModelOptionError(f"unknown model {cfg.model!r}", f"choose one of {', '.join(family_names())}")
        self.family = get_family(cfg.model)
        if cfg.runtime not in self.family.runtimes:
            raise ModelOptionError(f"unknown encoder runtime {cfg.runtime!r} for model {cfg.model}",
                                   f"choose one of {', '.join(self.family.runtimes)}")
        if cfg.threads is not None and not 1 <= int(cfg.threads) <= 256:
            raise ModelOptionError(f"threads must be in 1..256 (or None), got {cfg.threads}", "set threads 1")
        self.family.check_options(cfg)
        self.cfg = cfg
        self._encoder = self._codec = self._answerer = None
        self._fingerprint: str | None = None

    # ---- components (lazy) ------------------------------------------------------------------------
    @property
    def encoder(self):
        if self._encoder is None:
            self._encoder = self.family.build_encoder(self.cfg)
        return self._encoder

    @property
    def codec(self):
        if self._codec is None:
            from prosem_core.codec import MetaAutoEncoder

            self._codec = MetaAutoEncoder.load(self.codebook_path)
        return self._codec

    @property
    def answerer(self):
        if self._answerer is None:
            self._answerer = self.family.build_answerer(self.cfg)
        return self._answerer

    @property
    def codebook_path(self) -> Path:
        """The codebook this pipeline uses (ModelSetupError when the model ships none and none was given)."""
        if self.cfg.codebook:
            return Path(self.cfg.codebook).expanduser()
        shipped = self.family.default_codebook(self.cfg)
        if shipped is None:
            raise ModelSetupError(f"model {self.cfg.model} has no shipped codebook and none was given",
                                  f"{self.calibrate_command()} and pass codebook:=CB (--codebook CB)")
        return shipped

    @property
    def fingerprint(self) -> str:
        """The model's fingerprint (computed once; VLMs hash config + vision weights, < 1 s)."""
        if self._fingerprint is None:
            self._fingerprint = self.family.fingerprint(self.cfg)
        return self._fingerprint

    def loaded(self) -> dict[str, bool]:
        """Which components have been built (for tests and diagnostics)."""
        return {"encoder": self._encoder is not None, "codec": self._codec is not None,
                "answerer": self._answerer is not None}

    def model_provenance(self) -> dict[str, Any]:
        """What a codebook stores under provenance["model"] to name the model it was calibrated for
        (`prosem calibrate` writes it; check() compares its fingerprint)."""
        cfg = self.cfg
        return {"family": cfg.model, "fingerprint": self.fingerprint,
                "model_dir": str(Path(cfg.model_dir).expanduser().resolve()) if cfg.model_dir else "",
                "runtime": cfg.runtime,
                "options": {"resize_mode": cfg.resize_mode, "image_splitting": cfg.image_splitting,
                            "split_grid": list(cfg.split_grid) if cfg.split_grid else None,
                            "llava_projector_on_edge": cfg.llava_projector_on_edge}}

    def calibrate_command(self, out: str | Path = "CB") -> str:
        return f"prosem calibrate {self.family.model_args(self.cfg)} --images IMAGE_DIR --out {out}"

    # ---- start-up check ---------------------------------------------------------------------------
    def check(self, role: str = "both") -> dict[str, Any]:
        """Build what `role` ("edge", "cloud", "both") needs now and check the codebook belongs to this model.

        Raises ModelSetupError (one line: the problem, then the command that fixes it) for a missing model
        directory, ONNX export, codebook or answer head, a codebook calibrated for another model (both
        fingerprints named), one without a fingerprint, or one for another token shape. Returns a summary
        (model, fingerprint, codebook id, token shape) for the node's start-up log.
        """
        if role not in ROLES:
            raise ValueError(f"role must be one of {ROLES}, got {role!r}")
        fingerprint = self._setup_step("read the model", lambda: self.fingerprint)
        shapes = {}
        if role in ("edge", "both"):
            shapes["edge"] = tuple(self._setup_step("build the edge half", lambda: self.encoder).token_shape)
        if role in ("cloud", "both"):
            shapes["cloud"] = tuple(self._setup_step("build the cloud half", lambda: self.answerer_token_shape()))
        codec = self._setup_step("load the codebook", lambda: self.codec)
        self._check_binding(codec, fingerprint)
        for side, shape in shapes.items():
            if shape is not None and tuple(codec.token_shape) != shape:
                raise ModelSetupError(
                    f"codebook {self.codebook_path} codes tokens {tuple(codec.token_shape)} but the {side} half "
                    f"makes {shape} (image_splitting={self.cfg.image_splitting})",
                    f"{self.calibrate_command(self.codebook_path)} with the options the nodes use")
        return {"model": self.cfg.model, "model_dir": self.cfg.model_dir, "fingerprint": fingerprint,
                "codebook": str(self.codebook_path), "codebook_id": codec.codebook_id,
                "token_shape": tuple(codec.token_shape), "runtime": self.cfg.runtime}

    def answerer_token_shape(self) -> tuple[int, int] | None:
        answerer = self.answerer
        shape = getattr(answerer, "token_shape", None)
        if shape is None and self.cfg.model == "default":
            from prosem_core.models.encoder import TOKEN_SHAPE

            shape = TOKEN_SHAPE
        return tuple(shape) if shape is not None else None

    def _setup_step(self, what: str, build):
        from prosem_core.codec import CodecError

        try:
            return build()
        except ModelSetupError:
            raise
        except CodecError as exc:
            raise ModelSetupError(f"cannot {what}: {exc}", f"{self.calibrate_command(self.cfg.codebook or 'CB')}"
                                  + ("" if self.cfg.codebook else " and pass codebook:=CB")) from exc
        except (OSError, ValueError, RuntimeError, ImportError) as exc:
            raise ModelSetupError(f"cannot {what} ({self.cfg.model}): {type(exc).__name__}: {exc}",
                                  "check the model options and files named above") from exc

    def _check_binding(self, codec, fingerprint: str) -> None:
        """The codebook must say (provenance "model") it was calibrated for this model's fingerprint."""
        bound = codec.provenance.get("model") if isinstance(codec.provenance, dict) else None
        fix = self.calibrate_command(self.codebook_path)
        if isinstance(bound, dict) and bound.get("fingerprint"):
            if bound["fingerprint"] != fingerprint:
                raise ModelSetupError(
                    f"codebook {self.codebook_path} ({codec.codebook_id}) was calibrated for model "
                    f"{bound.get('family', '?')} {bound.get('model_dir') or ''} (fingerprint {bound['fingerprint']}), "
                    f"but this pipeline runs {self.cfg.model} {self.cfg.model_dir} (fingerprint {fingerprint})",
                    f"pass the codebook calibrated for this model, or make one: {self.calibrate_command()} "
                    "and pass codebook:=CB")
            return
        raise ModelSetupError(f"codebook {self.codebook_path} ({codec.codebook_id}) names no model fingerprint "
                              f"(calibrated before codebooks were bound to their model)", fix)


def default_pipeline(runtime: str = "torch", **kwargs) -> Pipeline:
    """Offline pipeline; `runtime` picks the encoder ("torch", "onnx", "onnx-int8"); kwargs: PipelineConfig."""
    return Pipeline(PipelineConfig(runtime=runtime, **kwargs))
