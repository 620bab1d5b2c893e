"""One side of `prosem bench vlm` in its own process, so peak memory (RSS) is that side's alone.

    python -m prosem_core.bench.vlm_worker edge  SPEC.json   # encode frames (+ codec layers), time them
    python -m prosem_core.bench.vlm_worker cloud SPEC.json   # decode prefixes, answer, time to first token

SPEC.json holds the PipelineConfig fields ("pipeline"), the work files and the counts; the worker writes
its results to SPEC["out"] as JSON (tokens and layers as .npy/.npz next to it).
"""
from __future__ import annotations

import json
import resource
import sys
import time
from pathlib import Path

import numpy as np


def _peak_rss_bytes() -> int:
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024  # Linux: KiB


def edge(spec: dict) -> dict:
    from prosem_core.pipeline import Pipeline, PipelineConfig

    frames = np.load(spec["frames"])
    t0 = time.perf_counter()
    pipe = Pipeline(PipelineConfig.from_dict(spec["pipeline"]))
    encoder = pipe.encoder
    encoder.encode(frames[0])  # warm-up: first run allocates
    load_s = time.perf_counter() - t0
    times, cpu_times, tokens = [], [], []
    for _ in range(int(spec.get("repeats", 1))):
        for frame in frames:
            t, c = time.perf_counter(), time.process_time()
            tokens.append(encoder.encode(frame))
            times.append(time.perf_counter() - t)
            cpu_times.append(time.process_time() - c)
    tokens = np.stack(tokens[:len(frames)])
    np.save(spec["tokens_out"], tokens)
    result = {"encoder": encoder.name, "token_shape": list(encoder.token_shape), "load_and_warmup_s": load_s,
              "frame_s": times, "frame_s_median": float(np.median(times)),
              "frame_cpu_s": cpu_times, "frame_cpu_s_median": float(np.median(cpu_times)),
              "torch_imported": "torch" in sys.modules}
    if spec.get("codebook"):
        codec = pipe.codec
        layers, codec_s = [], []
        for tok in tokens:
            t = time.perf_counter()
            layers.append(codec.encode(tok, frame_seq=0))
            codec_s.append(time.perf_counter() - t)
        sizes = np.array([[len(x) for x in frame_layers] for frame_layers in layers])
        np.savez(spec["layers_out"], **{f"f{i}_l{j}": np.frombuffer(x, np.uint8)
                                        for i, fl in enumerate(layers) for j, x in enumerate(fl)})
        result.update(codebook_id=codec.codebook_id, layer_bytes=sizes.tolist(), codec_encode_s_median=float(np.median(codec_s)))
    result["peak_rss_bytes"] = _peak_rss_bytes()
    return result


def _stamper(stamps: list[tuple[float, float]]):
    """on_partial callback recording when each piece of text arrived (wall clock, process CPU time)."""
    def record(_text: str) -> None:
        stamps.append((time.perf_counter(), time.process_time()))
    return record


def cloud(spec: dict) -> dict:
    import dataclasses

    from prosem_core.pipeline import Pipeline, PipelineConfig

    t0 = time.perf_counter()
    pipe = Pipeline(PipelineConfig.from_dict(spec["pipeline"]))
    codec, answerer = pipe.codec, pipe.answerer
    load_s = time.perf_counter() - t0
    n_new = int(spec["max_new_tokens"])
    stored = np.load(spec["layers"])
    layer_count = 1 + max(int(k.split("_l")[1]) for k in stored.files)
    layers = [stored[f"f0_l{j}"].tobytes() for j in range(layer_count)]
    # Warm-up (the first generate() call sets up caches and kernels), not timed.
    answerer.answer(codec.decode(layers[:1]), spec["question"], max_new_tokens=2)
    # Every timed answer runs the full budget (end-of-sequence held back): n_new - 1 gaps per answer.
    answerer.config = dataclasses.replace(answerer.config, min_new_tokens=n_new)
    decode_s, answers = {}, []
    for k in range(1, layer_count + 1):
        t = time.perf_counter()
        tokens = codec.decode(layers[:k])
        decode_s[str(k)] = time.perf_counter() - t
        if k not in (1, layer_count):
            continue
        stamps: list[tuple[float, float]] = []
        start, cpu_start = time.perf_counter(), time.process_time()
        ans = answerer.answer(tokens, spec["question"], max_new_tokens=n_new, on_partial=_stamper(stamps))
        end, cpu_end = time.perf_counter(), time.process_time()
        wall = np.array([w for w, _ in stamps])
        cpu = np.array([c for _, c in stamps])
        answers.append({"prefix": k, "new_tokens": ans.new_tokens, "partials": len(stamps),
                        "time_to_first_token_s": float(wall[0] - start) if len(wall) else None,
                        "per_token_s_median": float(np.median(np.diff(wall))) if len(wall) > 1 else None,
                        "cpu_to_first_token_s": float(cpu[0] - cpu_start) if len(cpu) else None,
                        "cpu_per_token_s_median": float(np.median(np.diff(cpu))) if len(cpu) > 1 else None,
                        "answer_s": end - start, "answer_cpu_s": cpu_end - cpu_start, "text_random_model": ans.text})
    return {"load_s": load_s, "decode_s": decode_s, "answers": answers, "peak_rss_bytes": _peak_rss_bytes(),
            "codebook_id": codec.codebook_id}


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] not in ("edge", "cloud"):
        print("usage: python -m prosem_core.bench.vlm_worker edge|cloud SPEC.json", file=sys.stderr)
        return 2
    spec = json.loads(Path(argv[1]).read_text())
    result = edge(spec) if argv[0] == "edge" else cloud(spec)
    Path(spec["out"]).write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
