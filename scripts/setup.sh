#!/usr/bin/env bash
# One-command, idempotent setup of the ProSem development environment.
#   - apt build tools (cmake, g++, ninja) only when missing
#   - .venv with real ROS 2 Kilted (rclpy + Fast DDS) from PyPI wheels, torch (CPU), onnxruntime, ...
#   - prosem_msgs built with CMake and installed into the venv (importable without sourcing)
#   - the workspace's Python packages installed editable (console scripts in .venv/bin) and
#     registered in the venv's ament index (ros2 run / ros2 launch find them where the CLI exists)
# A second run only checks stamps and finishes in seconds.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
VENV=${VENV:-$ROOT/.venv}
PY=${PYTHON:-python3}
say() { printf '[setup] %s\n' "$*"; }

# ---- 1. system build tools ----------------------------------------------------------------
missing=()
for tool in cmake g++ ninja; do command -v "$tool" >/dev/null 2>&1 || missing+=("$tool"); done
if ((${#missing[@]})); then
  pkgs=()
  for t in "${missing[@]}"; do case $t in ninja) pkgs+=(ninja-build);; *) pkgs+=("$t");; esac; done
  say "installing apt packages: ${pkgs[*]}"
  if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; else SUDO=; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${pkgs[@]}" >/dev/null
else
  say "build tools present: cmake g++ ninja"
fi
# iproute2 / nftables are used by the shaped-link tests and benchmark (root only).
if [ "$(id -u)" -eq 0 ]; then
  need=()
  command -v ip >/dev/null 2>&1 || need+=(iproute2)
  command -v tc >/dev/null 2>&1 || need+=(iproute2)
  command -v nft >/dev/null 2>&1 || need+=(nftables)
  if ((${#need[@]})); then
    say "installing apt packages: ${need[*]}"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq >/dev/null $(printf '%s\n' "${need[@]}" | sort -u)
  fi
fi

# ---- 2. the virtual environment -------------------------------------------------------------
if [ ! -x "$VENV/bin/python" ]; then
  say "creating $VENV"
  "$PY" -m venv "$VENV"
fi
VPY=$VENV/bin/python
stamp_dir=$VENV/.prosem-stamps
mkdir -p "$stamp_dir"
req_hash=$(cat "$ROOT/requirements.txt" "$ROOT/constraints.txt" "$ROOT/requirements-nodeps.txt" | sha256sum | cut -c1-16)
if [ "$(cat "$stamp_dir/pip" 2>/dev/null)" != "$req_hash" ]; then
  say "installing Python packages (pinned by constraints.txt)"
  "$VPY" -m pip install -q --upgrade pip
  "$VPY" -m pip install -q -r "$ROOT/requirements.txt" -c "$ROOT/constraints.txt"
  "$VPY" -m pip install -q --no-deps -r "$ROOT/requirements-nodeps.txt"
  echo "$req_hash" > "$stamp_dir/pip"
else
  say "Python packages up to date"
fi

# ---- 3. prosem_msgs into the venv -------------------------------------------------------------
export AMENT_PREFIX_PATH=$VENV CMAKE_PREFIX_PATH=$VENV
msgs_hash=$(cd "$ROOT/ros2_ws/src/prosem_msgs" && find . -type f | sort | xargs sha256sum | sha256sum | cut -c1-16)
if [ "$(cat "$stamp_dir/msgs" 2>/dev/null)" != "$msgs_hash" ] || ! "$VPY" -c "import prosem_msgs.msg" 2>/dev/null; then
  # The wheels were built under /opt/python/cp311-cp311: their CMake exports point there for the
  # Python and numpy include dirs. Point them at this venv (pitfall 1 in shared notes).
  py_inc=$("$VPY" -c "import sysconfig; print(sysconfig.get_paths()['include'])")
  np_inc=$("$VPY" -c "import numpy; print(numpy.get_include())")
  say "fixing CMake include paths of the ROS wheels -> $py_inc, $np_inc"
  grep -rlE "/opt/python/cp3[0-9]+-cp3[0-9]+" "$VENV/share" --include='*.cmake' 2>/dev/null | while read -r f; do
    sed -i -E "s#/opt/python/cp3[0-9]+-cp3[0-9]+/include/python3\.[0-9]+#${py_inc}#g; s#/opt/python/cp3[0-9]+-cp3[0-9]+/lib/python3\.[0-9]+/site-packages/numpy/(_core|core)/include#${np_inc}#g" "$f"
  done || true
  say "building prosem_msgs into $VENV"
  mkdir -p "$ROOT/build"
  build=$ROOT/build/prosem_msgs
  rm -rf "$build"
  cmake -S "$ROOT/ros2_ws/src/prosem_msgs" -B "$build" -G Ninja -DBUILD_TESTING=OFF \
    -DCMAKE_INSTALL_PREFIX="$VENV" -DPython3_EXECUTABLE="$VPY" > "$ROOT/build/prosem_msgs.cmake.log" 2>&1 \
    || { tail -40 "$ROOT/build/prosem_msgs.cmake.log"; exit 1; }
  cmake --build "$build" >> "$ROOT/build/prosem_msgs.cmake.log" 2>&1 || { tail -40 "$ROOT/build/prosem_msgs.cmake.log"; exit 1; }
  cmake --install "$build" >> "$ROOT/build/prosem_msgs.cmake.log" 2>&1 || { tail -40 "$ROOT/build/prosem_msgs.cmake.log"; exit 1; }
  "$VPY" -c "import prosem_msgs.msg, prosem_msgs.srv, prosem_msgs.action"
  echo "$msgs_hash" > "$stamp_dir/msgs"
else
  say "prosem_msgs up to date"
fi

# ---- 4. the project's Python packages (editable) and their ament index entries -------------------
# Every ament_python package of the workspace; installed in dependency order (core, glue, nodes, ...).
PKGS=(prosem_core prosem_ros prosem_edge prosem_cloud prosem_bench prosem_bringup)
# The names of installed data files count too: the ament index links each one (a new launch file needs a link).
pkgs_hash=$(cd "$ROOT/ros2_ws/src" && { cat "${PKGS[@]/%//setup.py}" "${PKGS[@]/%//package.xml}" "$ROOT/scripts/ament_index_venv.py";
  find . \( -path '*/launch/*' -o -path '*/config/*' -o -path '*/resource/*' \) -type f | sort; } | sha256sum | cut -c1-16)
if [ "$(cat "$stamp_dir/pkgs" 2>/dev/null)" != "$pkgs_hash" ]; then
  say "installing ${PKGS[*]} (editable)"
  for p in "${PKGS[@]}"; do
    "$VPY" -m pip install -q --no-deps --no-build-isolation -e "$ROOT/ros2_ws/src/$p"
  done
  # `ros2 run` / `ros2 launch <pkg>` find packages through the ament index, which pip does not write.
  "$VPY" "$ROOT/scripts/ament_index_venv.py" --prefix "$VENV"
  echo "$pkgs_hash" > "$stamp_dir/pkgs"
else
  say "project packages up to date"
fi
# ---- 5. extra setup steps of the project's parts (idempotent) -----------------------------------
for step in "$ROOT"/scripts/setup.d/*.sh; do
  [ -e "$step" ] || continue
  say "step $(basename "$step")"
  VPY=$VPY VENV=$VENV ROOT=$ROOT bash "$step"
done
say "done: activate with '. $VENV/bin/activate' (or use make targets)"
