#!/usr/bin/env bash
# Set up .venv from zero: torch, detectron2 (upstream source when reachable, else the
# pure-Python PyPI wheel), the project (editable, with its export extra: onnx, onnxruntime)
# and the dev tools. Idempotent: a second run checks what is there and installs nothing.
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PYTHON:-python3}
VENV=${VENV:-.venv}
TORCH_SPEC=${TORCH_SPEC:-"torch==2.14.1 torchvision==0.29.1"}
D2_RUNTIME_DEPS="fvcore iopath pycocotools yacs omegaconf hydra-core tabulate termcolor cloudpickle tqdm matplotlib tensorboard setuptools<80"
D2_GIT_URL=${D2_GIT_URL:-https://github.com/facebookresearch/detectron2.git}
STAMP="$VENV/.dld-setup-done"

log() { printf '[setup] %s\n' "$*"; }

# rapidfuzz and onnxruntime (the export extra): added after the first stamps; a venv without
# them reinstalls the project.
if [ -f "$STAMP" ] && "$VENV/bin/python" -c "import torch, torchvision, detectron2, dld_spotter, rapidfuzz, onnx, onnxruntime" 2>/dev/null; then
    log "environment already complete ($VENV); nothing to install"
    exit 0
fi

[ -x "$VENV/bin/python" ] || { log "creating $VENV"; "$PY" -m venv "$VENV"; }
VPY="$VENV/bin/python"
pip_i() { "$VPY" -m pip install --disable-pip-version-check -q "$@"; }

"$VPY" -c "import torch, torchvision" 2>/dev/null || { log "installing $TORCH_SPEC"; pip_i $TORCH_SPEC; }
log "installing detectron2 runtime dependencies"
pip_i $D2_RUNTIME_DEPS

if ! "$VPY" -c "import detectron2" 2>/dev/null; then
    # Ask GitHub with a hard time limit, so that an offline machine never hangs here.
    if [ "${DLD_D2_FROM_SOURCE:-auto}" != "0" ] && command -v git >/dev/null \
        && timeout 15 git ls-remote --heads "$D2_GIT_URL" >/dev/null 2>&1; then
        log "GitHub reachable: building upstream detectron2 from source"
        pip_i --no-build-isolation "git+$D2_GIT_URL"
    else
        log "GitHub not reachable: installing the pure-Python sal-detectron2 wheel (no _C needed)"
        SITE=$("$VPY" -c 'import site; print(site.getsitepackages()[0])')
        pip_i --no-deps --only-binary=:all: --python-version 3.10 --implementation cp \
            --target "$SITE" --upgrade sal-detectron2==0.7.2
    fi
fi

log "installing dld_spotter (editable) with its export extra, and dev tools"
pip_i -e ".[export]" pytest ruff
"$VPY" -c "import detectron2, dld_spotter; print('[setup] detectron2', detectron2.__version__, 'at', detectron2.__file__)"
touch "$STAMP"
log "done"
