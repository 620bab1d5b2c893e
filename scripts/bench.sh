#!/usr/bin/env bash
# `make bench`: run every benchmark into out/*.json (each writes its own JSON), then regenerate the
# README results (tables and plots between <!-- results:start --> and <!-- results:end -->).
#
#   BENCH_QUICK=1 make bench     smoke run: few images, short link windows (numbers not for the README)
#   BENCH_ONLY="codec vqa" make bench     (default: codec vqa vlm int8 stream link)
#   OUT=/tmp/b README=/tmp/README.md make bench     write elsewhere
#
# A benchmark that fails is reported and the others still run; the exit status is non-zero if any
# failed. The shaped-link benchmark needs root (network namespaces); without it, it is skipped and
# the README keeps saying so.
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
PY=${PY:-$ROOT/.venv/bin/python}
OUT=${OUT:-$ROOT/out}
ONLY=${BENCH_ONLY:-codec vqa vlm int8 stream link}
README=${README:-$ROOT/README.md}
quick=()
[ -n "${BENCH_QUICK:-}" ] && quick=(1)
export AMENT_PREFIX_PATH=${AMENT_PREFIX_PATH:-$ROOT/.venv} HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
mkdir -p "$OUT"
failed=()

run() {
  local name=$1; shift
  case " $ONLY " in *" $name "*) ;; *) echo "[bench] $name: skipped (BENCH_ONLY)"; return;; esac
  echo "[bench] $name: prosem $*"
  local start=$SECONDS
  if "$PY" -m prosem_core.cli.main "$@"; then
    echo "[bench] $name: done in $((SECONDS - start)) s"
  else
    echo "[bench] $name: FAILED (exit $?)" >&2
    failed+=("$name")
  fi
}

codec_args=(bench codec --json "$OUT/bench_codec.json" --plot "$OUT/bench_codec.png")
vqa_args=(bench vqa --json "$OUT/bench_vqa.json")
link_args=(bench link --json "$OUT/bench_link.json")
# Random-weight SmolVLM-256M and llava-interleave-qwen-0.5b at their real sizes (10-20 min the first time).
vlm_args=(bench vlm --json "$OUT/bench_vlm.json" --markdown "$OUT/bench_vlm.md")
# The camera sequence through the codec and live video codecs (PyAV's FFmpeg), about 10 min.
stream_args=(bench stream --json "$OUT/bench_stream.json" --plot "$OUT/bench_stream.png")
# int8 for a VLM edge half, dynamic vs the static recipe, on bench vlm's random-weight SmolVLM-256M
# (built or reused here; about 8 min, most of it the static recipe's rounding).
vlm_arch=real
if ((${#quick[@]})); then
  vlm_arch=tiny
  codec_args+=(--limit 20 --photos 10 --no-int8-study)
  vqa_args+=(--images 50 --no-int8)
  link_args+=(--quick)
  vlm_args+=(--arch tiny --frames 1)
  stream_args+=(--quick)
fi
run codec "${codec_args[@]}"
run vqa "${vqa_args[@]}"
run vlm "${vlm_args[@]}"
case " $ONLY " in
  *" int8 "*)
    if smol_dir=$("$PY" -m prosem_core.bench.vlm_models "$vlm_arch" smolvlm "$ROOT/build/bench_vlm/models") &&
       { [ -f "$smol_dir/prosem_onnx/vision_connector_fp32.onnx" ] ||
         "$PY" -m prosem_core.cli.main export-onnx --model smolvlm --model-dir "$smol_dir"; }; then
      run int8 bench int8 --model smolvlm --model-dir "$smol_dir" --json "$OUT/bench_int8_smolvlm.json"
    else
      echo "[bench] int8: FAILED (no SmolVLM model dir or export)" >&2
      failed+=("int8")
    fi;;
  *) echo "[bench] int8: skipped (BENCH_ONLY)";;
esac
run stream "${stream_args[@]}"
if [ "$(id -u)" -eq 0 ]; then
  run link "${link_args[@]}"
else
  echo "[bench] link: skipped (needs root for network namespaces)"
fi

"$PY" "$ROOT/scripts/update_readme_results.py" --out "$OUT" --readme "$README" || failed+=("readme")
if ((${#failed[@]})); then
  echo "[bench] failed: ${failed[*]}" >&2
  exit 1
fi
echo "[bench] all done; results in $OUT and $README"
