"""What SmolVLM/Idefics3 and LLaVA backends share: loading, prompts, token injection, generation.

The cloud half never calls the model with pixels. It embeds the chat-templated prompt, overwrites the
embeddings at the image-placeholder positions with the (possibly reconstructed) visual tokens and runs
the language model on `inputs_embeds`. The model's own pixel path does the same overwrite
(masked_scatter), so with the edge's exact tokens the logits are identical; a test checks this.
"""

from __future__ import annotations

import math
from abc import abstractmethod
from pathlib import Path

import numpy as np
import torch

from .base import Answer, PartialCallback, StopCheck, VlmBackend, VlmConfig, VlmInputError, VlmLoadError, check_question, check_tokens
from .model_dir import ModelDir, open_model_dir
from .preprocess import PixelPrep, edge_pixels


def _load_tokenizer(path: Path):
    from transformers import AutoTokenizer

    try:
        return AutoTokenizer.from_pretrained(str(path), local_files_only=True)
    except Exception as exc:  # transformers raises many types here; the caller needs one
        raise VlmLoadError(f"{path}: cannot load tokenizer: {exc}") from exc


def _read_chat_template(path: Path, tokenizer) -> str | None:
    """The tokenizer's chat template, else the processor's (chat_template.jinja / .json)."""
    if getattr(tokenizer, "chat_template", None):
        return tokenizer.chat_template
    jinja = path / "chat_template.jinja"
    if jinja.is_file():
        return jinja.read_text(encoding="utf-8")
    js = path / "chat_template.json"
    if js.is_file():
        import json

        try:
            return json.loads(js.read_text(encoding="utf-8")).get("chat_template")
        except json.JSONDecodeError as exc:
            raise VlmLoadError(f"{js}: {exc}") from exc
    return None


class HfVlmBackend(VlmBackend):
    """A transformers image-text-to-text model split at the visual tokens."""

    default_prompt_template: str = "{image}{question}"
    end_of_turn_tokens: tuple[str, ...] = ()  # chat markers that end an answer besides EOS

    def __init__(self, config: VlmConfig, model_dir: ModelDir, model: torch.nn.Module, tokenizer, prep: PixelPrep):
        self.config = config
        self.model_dir = model_dir
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.prep = prep
        self.chat_template = _read_chat_template(model_dir.path, tokenizer)
        self.image_token_id = int(self._hf_config().image_token_id)
        if self.tokenizer.convert_ids_to_tokens(self.image_token_id) is None:
            raise VlmLoadError(f"{model_dir.path}: image_token_id {self.image_token_id} is not in the tokenizer")
        self.image_token = self.tokenizer.convert_ids_to_tokens(self.image_token_id)
        if config.num_threads:
            torch.set_num_threads(int(config.num_threads))
        self.grid = self._split_grid() if config.image_splitting else None  # (rows, cols) or None: one view
        self.views = 1 if self.grid is None else self.grid[0] * self.grid[1] + 1
        self.view_token_shape = self._infer_token_shape()  # (T, D) of one view
        self._token_shape = (self.views * self.view_token_shape[0], self.view_token_shape[1])
        self._first_map = self._compute_first_linear_map()  # before a role drops the module it reads
        self._drop_unused_half()

    # ---- loading -----------------------------------------------------------------------------
    family_name: str = ""  # what open_model_dir must find in config.json

    @classmethod
    def from_config(cls, config: VlmConfig) -> HfVlmBackend:
        mdir = open_model_dir(config.model_dir, expect_family=cls.family_name)
        model_cls = cls._model_class(mdir.config.get("model_type"))
        try:
            model = model_cls.from_pretrained(str(mdir.path), local_files_only=True, dtype=torch.float32)
        except Exception as exc:
            raise VlmLoadError(f"{mdir.path}: cannot load {model_cls.__name__} weights: {exc}") from exc
        tokenizer = _load_tokenizer(mdir.path)
        prep = cls._pixel_prep(mdir, model.config, config)
        return cls(config, mdir, model, tokenizer, prep)

    @classmethod
    @abstractmethod
    def _model_class(cls, model_type: str): ...

    @classmethod
    @abstractmethod
    def _pixel_prep(cls, mdir: ModelDir, hf_config, config: VlmConfig) -> PixelPrep: ...

    # ---- family-specific hooks -----------------------------------------------------------------
    @abstractmethod
    def _vision_tokens(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """Edge: pixel values of the views [V, 3, H, W] -> tokens [V * T, D], view after view, exactly as
        the model's pixel path makes them."""

    def _tokens_to_lm_inputs(self, tokens: torch.Tensor) -> torch.Tensor:
        """Cloud: shipped tokens [T, D] -> the rows written into inputs_embeds (identity unless overridden)."""
        return tokens

    @abstractmethod
    def _image_block(self) -> str:
        """The text that stands for one image (all its views) in the prompt, one image token per visual token."""

    @abstractmethod
    def _language_model(self) -> torch.nn.Module: ...

    @abstractmethod
    def edge_module(self) -> torch.nn.Module:
        """The edge half as one module for ONNX export: pixels of full views [V, 3, S, S] -> [V, T, D]."""

    @abstractmethod
    def _infer_token_shape(self) -> tuple[int, int]:
        """(T, D) of the tokens of one view."""

    def _split_grid(self) -> tuple[int, int]:
        raise VlmInputError(f"image splitting is not supported for {self.family} models (SmolVLM only)")

    @abstractmethod
    def _drop_unused_half(self) -> None: ...

    def _hf_config(self):
        return self.model.config

    # ---- public API ------------------------------------------------------------------------------
    @property
    def name(self) -> str:
        return self.family

    @property
    def token_shape(self) -> tuple[int, int]:
        return self._token_shape

    def pixel_values(self, rgb_uint8_hwc: np.ndarray) -> torch.Tensor:
        """The edge's preprocessing: [V, 3, H, W] float32, V = self.views (1 without image splitting;
        also what the pixel path of a test consumes)."""
        return torch.from_numpy(edge_pixels(rgb_uint8_hwc, self.prep, self.grid))

    @torch.inference_mode()
    def edge_tokens(self, rgb_uint8_hwc: np.ndarray) -> np.ndarray:
        if self.config.role == "cloud":
            raise VlmInputError("this backend was loaded with role='cloud'; it has no vision tower")
        tokens = self._vision_tokens(self.pixel_values(rgb_uint8_hwc))
        out = tokens.detach().to(torch.float32).cpu().numpy()
        if out.shape != self.token_shape:
            raise RuntimeError(f"vision path gave tokens {out.shape}, expected {self.token_shape}")
        return np.ascontiguousarray(out)

    def prompt_text(self, question: str) -> str:
        """Chat-templated prompt for one image + question, image placeholder already expanded."""
        question = check_question(question)
        if self.image_token in question:
            raise VlmInputError(f"question must not contain the image placeholder {self.image_token!r}")
        placeholder = "\x00IMAGE\x00"  # survives templating; replaced by the expanded block afterwards
        if self.chat_template and self.config.prompt_template is None:
            messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": question}]}]
            text = self.tokenizer.apply_chat_template(messages, chat_template=self.chat_template,
                                                      add_generation_prompt=True, tokenize=False)
            if text.count(self.image_token) != 1:
                raise VlmLoadError(f"chat template rendered {text.count(self.image_token)} "
                                   f"{self.image_token!r} placeholders for one image")
            text = text.replace(self.image_token, placeholder)
        else:
            template = self.config.prompt_template or self.default_prompt_template
            text = template.format(image=placeholder, question=question)
        return text.replace(placeholder, self._image_block())

    def prompt_ids(self, question: str) -> torch.Tensor:
        ids = self.tokenizer(self.prompt_text(question), return_tensors="pt")["input_ids"]
        n_img = int((ids == self.image_token_id).sum())
        if n_img != self.token_shape[0]:
            raise VlmLoadError(f"prompt holds {n_img} image tokens, the model makes {self.token_shape[0]}; "
                               "the tokenizer splits the image token or the template duplicates it")
        return ids

    @torch.inference_mode()
    def inputs_embeds(self, tokens: np.ndarray, question: str) -> tuple[torch.Tensor, torch.Tensor]:
        """(inputs_embeds [1, L, H], attention_mask [1, L]) with the tokens at the image positions."""
        if self.config.role == "edge":
            raise VlmInputError("this backend was loaded with role='edge'; it has no language model")
        tok = torch.from_numpy(check_tokens(tokens, self.token_shape))
        ids = self.prompt_ids(question)
        embeds = self.model.get_input_embeddings()(ids)
        rows = self._tokens_to_lm_inputs(tok.to(embeds.dtype)).to(embeds.dtype)
        mask = (ids == self.image_token_id).unsqueeze(-1).expand_as(embeds)
        embeds = embeds.masked_scatter(mask, rows)  # same op, same order as the model's pixel path
        return embeds, torch.ones_like(ids)

    def _check_length(self, prompt_len: int, new_tokens: int) -> None:
        limit = getattr(self.model.config.text_config, "max_position_embeddings", None)
        if limit and prompt_len + new_tokens > limit:
            raise VlmInputError(f"prompt ({prompt_len} tokens) + {new_tokens} new tokens exceeds the language "
                                f"model's {limit} positions; shorten the question")

    @torch.inference_mode()
    def logits(self, tokens: np.ndarray, question: str) -> torch.Tensor:
        """Next-token logits [1, L, V] of the prompt with injected tokens (for checks and scoring)."""
        embeds, attn = self.inputs_embeds(tokens, question)
        self._check_length(embeds.shape[1], 0)
        return self.model(inputs_embeds=embeds, attention_mask=attn, use_cache=False).logits

    @torch.inference_mode()
    def answer(self, tokens: np.ndarray, question: str, *, max_new_tokens: int | None = None,
               on_partial: PartialCallback | None = None, should_stop: StopCheck | None = None) -> Answer:
        """Greedy generation from injected tokens; streams text through on_partial and stops when
        should_stop() says so (checked before the prompt runs and after every generated token)."""
        from transformers import StoppingCriteriaList

        from .streaming import PartialText, StopWhen

        budget = int(self.config.max_new_tokens if max_new_tokens is None else max_new_tokens)
        if not 1 <= budget <= 4096:
            raise VlmInputError(f"max_new_tokens must be in 1..4096, got {budget}")
        embeds, attn = self.inputs_embeds(tokens, question)
        self._check_length(embeds.shape[1], budget)
        if should_stop is not None and should_stop():
            return Answer(text="", confidence=0.0, label="", route="generate", stopped=True)
        stop = StopWhen(should_stop) if should_stop is not None else None
        out = self.model.generate(inputs_embeds=embeds, attention_mask=attn, max_new_tokens=budget,
                                  min_new_tokens=min(self.config.min_new_tokens, budget),
                                  suppress_tokens=self._never_generate(), do_sample=False, num_beams=1,
                                  eos_token_id=self._stop_ids(), output_logits=True,
                                  return_dict_in_generate=True, pad_token_id=self._pad_id(),
                                  streamer=PartialText(self.tokenizer, on_partial) if on_partial else None,
                                  stopping_criteria=StoppingCriteriaList([stop]) if stop else None)
        new_ids = out.sequences[0, -len(out.logits):]  # with inputs_embeds only new tokens come back
        logprobs = [torch.log_softmax(step[0].float(), dim=-1)[int(t)].item() for step, t in zip(out.logits, new_ids)]
        confidence = math.exp(sum(logprobs) / len(logprobs)) if logprobs else 0.0
        text = self.tokenizer.decode(new_ids, skip_special_tokens=True).strip()
        return Answer(text=text, confidence=float(min(max(confidence, 0.0), 1.0)), label=text, route="generate",
                      stopped=bool(stop and stop.fired), new_tokens=int(len(new_ids)))

    def first_linear_map(self) -> np.ndarray:
        return self._first_map.copy()

    def _compute_first_linear_map(self) -> np.ndarray:
        """Layer-0 q/k/v projections of the LM with the input RMSNorm gain folded in: [M, D].

        RMSNorm divides each token by its own RMS (a per-token scalar) and multiplies by a gain g, so
        what layer 0 reads from token x is (W_q; W_k; W_v) diag(g) x up to that scalar.
        """
        lm = self._language_model()
        try:
            layer = lm.layers[0]
            attn = layer.self_attn
            weight = torch.cat([attn.q_proj.weight, attn.k_proj.weight, attn.v_proj.weight], dim=0)
            gain = layer.input_layernorm.weight
        except AttributeError as exc:
            raise VlmLoadError(f"language model {type(lm).__name__} has no Llama-style layer 0 "
                               f"(input_layernorm + q/k/v_proj): {exc}") from exc
        if "gemma" in type(layer.input_layernorm).__name__.lower():
            gain = 1.0 + gain  # Gemma's RMSNorm scales by (1 + weight)
        return np.ascontiguousarray((weight * gain[None, :]).detach().float().cpu().numpy())

    def _stop_ids(self) -> list[int]:
        """End of sequence, plus the chat end-of-turn marker where the tokenizer has one."""
        eos = self.model.generation_config.eos_token_id
        ids = set(eos if isinstance(eos, list) else [eos]) | {self.tokenizer.eos_token_id}
        vocab = self.tokenizer.get_vocab()
        ids |= {vocab[t] for t in self.end_of_turn_tokens if t in vocab}
        return sorted(int(i) for i in ids if i is not None)

    def _never_generate(self) -> list[int]:
        """Ids that are never a valid answer token: image placeholders and tile tags, padding,
        begin-of-sequence, unknown, and every other special token (decoding drops them anyway)."""
        cached = getattr(self, "_never_ids", None)
        if cached is not None:
            return cached
        names = [self.image_token, "<fake_token_around_image>", "<global-img>", self.tokenizer.pad_token,
                 self.tokenizer.bos_token, self.tokenizer.unk_token]
        vocab, stop = self.tokenizer.get_vocab(), set(self._stop_ids())
        ids = {vocab[n] for n in names if n in vocab} | {int(i) for i in self.tokenizer.all_special_ids}
        ids |= {i for tok, i in vocab.items() if tok.startswith("<row_") and "_col_" in tok}
        self._never_ids = sorted(ids - stop)
        return self._never_ids

    def _pad_id(self) -> int | None:
        for tid in (self.tokenizer.pad_token_id, self.tokenizer.eos_token_id):
            if tid is not None:
                return int(tid)
        return None
