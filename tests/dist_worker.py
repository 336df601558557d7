"""One rank of the data-parallel test (started by torchrun): train, then record this rank's weights and buffers."""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

from azr.config import load_config
from azr.tasks import TaskType
from azr.trainer import Trainer


def digest(model) -> str:
    h = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        h.update(name.encode())
        h.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


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
        "buffers": {
            str(t): [task.program + "|" + "|".join(task.inputs) for task in trainer.buffers[t].tasks] for t in TaskType
        },
    }
    Path(out, f"rank{trainer.world.rank}.json").write_text(json.dumps(record))


if __name__ == "__main__":
    main()
