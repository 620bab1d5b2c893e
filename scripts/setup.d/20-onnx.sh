#!/usr/bin/env bash
# Export the edge vision encoder to ONNX (fp32 + int8 QDQ) into the git-ignored model folder
# (prosem_core.models.paths.model_dir(), default build/models). Idempotent: existing files are kept.
set -euo pipefail
VPY=${VPY:-${VENV:-$(cd "$(dirname "$0")/../.." && pwd)/.venv}/bin/python}
"$VPY" -m prosem_core.cli.main export-onnx
