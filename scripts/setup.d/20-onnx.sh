#!/usr/bin/env bash
# Export the edge vision encoder to ONNX (fp32 + int8 QDQ by the static recipe, docs/int8.md; about a
# minute) and MiniLM to ONNX into the git-ignored model folder (prosem_core.models.paths.model_dir(),
# default build/models), and cache the ImageNet head and the class-name vectors there, so edge and
# cloud run without torch and start in ~1 s. Idempotent: existing files are kept (an int8 file made
# by another recipe is re-made).
set -euo pipefail
VPY=${VPY:-${VENV:-$(cd "$(dirname "$0")/../.." && pwd)/.venv}/bin/python}
"$VPY" -m prosem_core.cli.main export-onnx
