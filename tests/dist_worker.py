"""One rank of a data-parallel test (started by torchrun): train, then record this rank's weights and buffers.

With a sampler that holds its own copy of the weights (the vLLM backend), the record also says how far the
engine's log-probs are from a teacher-forced pass of this rank's trained model, and what it sampled."""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

from azr.selfplay.config import load_config
from azr.selfplay.trainer import Trainer
from azr.verify.tasks import TaskType


def digest(model) -> str:
    h = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        if hasattr(tensor, "full_tensor"):  # an FSDP2 shard: gather the whole (collective, same order on every rank)
            tensor = tensor.full_tensor()
        h.update(name.encode())
        h.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


def engine_check(trainer: Trainer) -> dict[str, object]:
    """Sample from the engine after the run's last sync and score the samples with the trained model."""
    from logprobs import max_logprob_error

    from azr.sampling.base import GenerationConfig

    prompts = ["def f(xs):\n    return", "x = [1, 2, 3]\nprint(len(x))\n# prints"]
    out = trainer.sampler.generate(prompts, GenerationConfig(n=2, temperature=1.0, max_new_tokens=12, seed=5))
    return {
        "max_logprob_error": max_logprob_error(trainer.model, out),
        "samples": [[s.token_ids for s in group] for group in out],
    }


def main() -> None:
    run_dir, out, *overrides = sys.argv[1:]
    trainer = Trainer(load_config(None, overrides), Path(run_dir))
    before = digest(trainer.model)
    trainer.fit()
    record = {
        "rank": trainer.world.rank,
        "world": trainer.world.size,
        "before": before,
        "after": digest(trainer.model),
        "engine": engine_check(trainer) if hasattr(trainer.sampler, "sync_weights") else None,
        "buffers": {
            str(t): [task.program + "|" + "|".join(task.inputs) for task in trainer.buffers[t].tasks] for t in TaskType
        },
    }
    Path(out, f"rank{trainer.world.rank}.json").write_text(json.dumps(record))


if __name__ == "__main__":
    main()
