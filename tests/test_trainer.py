"""The self-play loop end to end on CPU: a real (tiny, taught) model, the real sandbox, real files."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from azr.selfplay.buffer import task_record  # noqa: E402
from azr.selfplay.config import load_config  # noqa: E402
from azr.selfplay.phases import group_id, solve_rate_group_id  # noqa: E402
from azr.selfplay.trainer import Trainer  # noqa: E402
from azr.verify.tasks import TaskType  # noqa: E402

GROUPS = [f"{t}/{r}" for t in ("deduction", "abduction", "induction") for r in ("propose", "solve")]
TIMING = (
    "time",
    "step_time_s",
    "generation/tokens_per_s",
    "generation/seconds",
    "update/seconds",
    "sync/seconds",
    "sandbox/expressions_per_s",
    "sandbox/seconds",
)


def small(model_dir: Path, steps: int, *extra: str) -> list[str]:
    return [
        f"model.name={json.dumps(str(model_dir))}",
        "model.dtype='float32'",  # the same arithmetic on every CI machine; test_precision covers auto
        f"run.steps={steps}",
        "run.progress=false",
        "run.checkpoint_every=1",
        "sampler.batch_size=16",
        "sampler.max_new_tokens_propose=64",
        "sampler.max_new_tokens_solve=40",
        "selfplay.proposals_per_type=3",
        "selfplay.solves_per_type=2",
        "selfplay.solve_rate_samples=4",
        "selfplay.references=2",
        "selfplay.induction_inputs=4",
        "selfplay.induction_shown=2",
        "sandbox.workers=2",
        "optim.lr=1e-4",
        *extra,
    ]


def metrics(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


def test_group_ids_cover_six_groups_and_three_solve_rate_groups():
    ids = {group_id(t, r) for t in TaskType for r in ("propose", "solve")}
    assert ids == set(range(6))
    assert {solve_rate_group_id(t) for t in TaskType} == {6, 7, 8}


def test_solve_rate_samples_are_trained_on_in_their_own_group_when_asked(taught_model_dir, tmp_path):
    flag = "selfplay.train_on_solve_rate_samples=true"
    trainer = Trainer(load_config(None, small(taught_model_dir, 1, flag)), tmp_path / "on")
    trainer.fit()
    row = metrics(tmp_path / "on")[-1]
    trained = 0
    for t in ("deduction", "abduction", "induction"):
        rewards = [s["reward"] for s in trainer.last_samples if s["group"] == f"{t}/solve_rate"]
        valid = round(row[f"{t}/propose/valid_rate"] * 3)  # 3 proposals per type
        assert len(rewards) == valid * 4  # every solve-rate sample of every valid proposal, 4 each
        assert set(rewards) <= {1.0, -0.5, -1.0}
        if rewards:  # the accepted share of what is trained on is the proposer's solve-rate estimate
            assert sum(r == 1.0 for r in rewards) / len(rewards) == pytest.approx(
                row[f"{t}/propose/solve_rate_estimate"]
            )
            assert row[f"{t}/solve_rate/reward_mean"] == pytest.approx(sum(rewards) / len(rewards))
        trained += len(rewards)
    assert trained > 0, "no valid proposal: nothing reached the solve-rate phase"
    off = Trainer(load_config(None, small(taught_model_dir, 1)), tmp_path / "off")
    off.fit()
    assert not any(s["group"].endswith("/solve_rate") for s in off.last_samples)


def test_steps_write_metrics_plots_checkpoints_and_grow_buffers(taught_model_dir, tmp_path):
    run_dir = tmp_path / "run"
    trainer = Trainer(load_config(None, small(taught_model_dir, 2)), run_dir)
    trainer.fit()
    rows = metrics(run_dir)
    assert [r["step"] for r in rows] == [1, 2]
    for group in GROUPS:
        assert all(f"{group}/reward_mean" in r for r in rows)
    for key in (
        "sandbox/expressions",
        "sandbox/timeouts",
        "generation/tokens_per_s",
        "step_time_s",
        "update/loss",
        "buffer/induction",
    ):
        assert key in rows[-1]
    last = rows[-1]
    assert 0 < last["generation/seconds"] + last["update/seconds"] <= last["step_time_s"]
    assert last["sync/seconds"] == pytest.approx(0.0, abs=0.05)  # the transformers sampler has nothing to sync
    # The taught model writes well-formed tasks, so the sandbox accepted some and the buffers grew.
    assert sum(r["deduction/propose/valid_rate"] + r["abduction/propose/valid_rate"] for r in rows) > 0
    assert (
        sum(len((run_dir / "buffers" / f"{t}.jsonl").read_text().splitlines()) for t in ("deduction", "abduction")) > 0
    )
    for name in ("rewards", "solve_rates", "valid_rates"):
        png = run_dir / "plots" / f"{name}.png"
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    samples = [json.loads(line) for line in (run_dir / "samples" / "step-000002.jsonl").read_text().splitlines()]
    assert {s["group"] for s in samples} == set(GROUPS)
    assert all(isinstance(s["text"], str) and isinstance(s["reward"], float) for s in samples)
    ckpt = run_dir / "checkpoints" / "step-000002"
    assert (ckpt / "model" / "model.safetensors").stat().st_size > 0
    assert (ckpt / "optimizer.pt").exists() and (ckpt / "rng.pt").exists()
    assert json.loads((ckpt / "state.json").read_text())["step"] == 2
    assert "[selfplay]" in (run_dir / "config.toml").read_text()


def test_resume_continues_exactly(taught_model_dir, tmp_path):
    straight = tmp_path / "straight"
    Trainer(load_config(None, small(taught_model_dir, 3)), straight).fit()

    split = tmp_path / "split"
    first = Trainer(load_config(None, small(taught_model_dir, 2)), split)
    first.fit()
    buffers = {t: first.buffers[t].tasks for t in TaskType}
    del first
    resumed = Trainer(load_config(split / "config.toml", ["run.steps=3"]), split, resume=True)
    assert resumed.step == 2
    assert {t: resumed.buffers[t].tasks for t in TaskType} == buffers
    resumed.fit()

    a, b = metrics(straight), metrics(split)
    assert [r["step"] for r in b] == [1, 2, 3]
    for key, value in a[2].items():
        if key not in TIMING:
            assert b[2][key] == (value if value is None else pytest.approx(value, rel=1e-5, abs=1e-6)), key
    from safetensors.torch import load_file

    wa = load_file(straight / "checkpoints" / "step-000003" / "model" / "model.safetensors")
    wb = load_file(split / "checkpoints" / "step-000003" / "model" / "model.safetensors")
    assert wa.keys() == wb.keys()
    for name in wa:
        assert torch.allclose(wa[name], wb[name], atol=1e-6), name


def test_a_new_run_refuses_an_existing_run_dir(taught_model_dir, tmp_path):
    run_dir = tmp_path / "run"
    Trainer(load_config(None, small(taught_model_dir, 1)), run_dir).fit()
    from azr.exceptions import ConfigError

    with pytest.raises(ConfigError, match="already holds a run"):
        Trainer(load_config(None, small(taught_model_dir, 1)), run_dir)


def _accepted(run_dir: Path) -> list[str]:
    lines = []
    for t in ("deduction", "abduction", "induction"):
        path = run_dir / "buffers" / f"{t}.jsonl"
        if path.exists():
            lines += [line for line in path.read_text().splitlines(keepends=True) if line.endswith("\n")]
    return lines


def test_sigkill_mid_step_loses_no_accepted_task(taught_model_dir, tmp_path):
    run_dir = tmp_path / "run"
    args = [sys.executable, "-m", "azr.cli", "train", "--run-dir", str(run_dir)]
    for item in small(taught_model_dir, 1000, "run.checkpoint_every=1000"):
        args += ["--set", item]
    log = tmp_path / "train.log"
    with (
        log.open("wb") as err,
        subprocess.Popen(
            args, stdout=subprocess.DEVNULL, stderr=err, env={**os.environ, "PYTHONUNBUFFERED": "1"}
        ) as proc,
    ):
        try:
            deadline = time.monotonic() + 240
            while len(_accepted(run_dir)) < 3:
                assert proc.poll() is None, log.read_text()[-3000:]
                assert time.monotonic() < deadline, "no tasks accepted in time"
                time.sleep(0.2)
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
    before = _accepted(run_dir)
    assert not (run_dir / "checkpoints").exists()  # killed before any checkpoint
    resumed = Trainer(load_config(run_dir / "config.toml", ["run.steps=1"]), run_dir, resume=True)
    kept = {json.dumps(json.loads(line)) for line in before}
    in_buffers = {json.dumps(task_record(t)) for tt in TaskType for t in resumed.buffers[tt].proposed}
    assert kept <= in_buffers
    assert resumed.step == 0


def test_lora_kl_and_checkpointing_paths_train_save_and_resume(taught_model_dir, tmp_path):
    import warnings

    extra = ("model.lora_rank=4", "model.gradient_checkpointing=true", "optim.kl_coef=0.05", "optim.entropy_coef=0.01")
    run_dir = tmp_path / "run"
    with warnings.catch_warnings():
        # peft 0.21 reads transformers' deprecated ``is_gradient_checkpointing`` (a third-party FutureWarning).
        warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)
        trainer = Trainer(load_config(None, small(taught_model_dir, 1, *extra)), run_dir)
        trainable = [n for n, p in trainer.model.named_parameters() if p.requires_grad]
        assert trainable and all("lora_" in n for n in trainable)
        row = trainer.fit()[0]
        assert row["update/kl"] >= 0.0 and row["update/entropy"] > 0.0
        ckpt = run_dir / "checkpoints" / "step-000001"
        assert (ckpt / "adapter" / "adapter_model.safetensors").exists()
        # The base never changes: no merged copy on disk, only what exact resume needs.
        assert not (ckpt / "model").exists()
        assert sorted(p.name for p in ckpt.iterdir()) == ["adapter", "optimizer.pt", "rng.pt", "state.json"]
        saved = {n: p.detach().clone() for n, p in trainer.model.named_parameters() if "lora_" in n}
        moments = {
            k: {n: t.clone() for n, t in v.items()} for k, v in trainer.updater.optimizer.state_dict()["state"].items()
        }
        resumed = Trainer(load_config(run_dir / "config.toml", ["run.steps=2"]), run_dir, resume=True)
    again = {n: p for n, p in resumed.model.named_parameters() if "lora_" in n}
    assert saved.keys() == again.keys()
    for name, value in saved.items():
        assert torch.equal(value, again[name].detach()), name
    restored = resumed.updater.optimizer.state_dict()["state"]
    assert moments and restored.keys() == moments.keys()
    for index, before in moments.items():
        for key, value in before.items():
            assert torch.equal(value, restored[index][key]), (index, key)


def _lora_run(model_dir: Path, run_dir: Path, steps: int) -> Trainer:
    import warnings

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)
        config = load_config(None, small(model_dir, steps, "model.lora_rank=4", "optim.lr=1e-2"))
        trainer = Trainer(config, run_dir)
        trainer.fit()
    return trainer


def test_lora_resume_reproduces_the_uninterrupted_run(taught_model_dir, tmp_path):
    """Adapter + optimizer + RNG is all exact resume needs: 1 step, stop, resume 1 step == 2 straight steps."""
    import warnings

    straight = _lora_run(taught_model_dir, tmp_path / "straight", 2)
    _lora_run(taught_model_dir, tmp_path / "split", 1)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)
        resumed = Trainer(
            load_config(tmp_path / "split" / "config.toml", ["run.steps=2"]), tmp_path / "split", resume=True
        )
        resumed.fit()
    ours = {n: p.detach() for n, p in resumed.model.named_parameters() if "lora_" in n}
    theirs = {n: p.detach() for n, p in straight.model.named_parameters() if "lora_" in n}
    assert ours.keys() == theirs.keys()
    assert any(not torch.equal(v, 0 * v) for k, v in ours.items() if "lora_B" in k), "the adapter never trained"
    for name, value in theirs.items():
        assert torch.allclose(value, ours[name], atol=1e-6), name
    a, b = metrics(tmp_path / "straight"), metrics(tmp_path / "split")
    assert [r["step"] for r in b] == [1, 2]
    for key, value in a[1].items():
        if key not in TIMING:
            assert b[1][key] == (value if value is None else pytest.approx(value, rel=1e-5, abs=1e-6)), key


def test_azr_eval_loads_a_lora_checkpoint_as_base_plus_merged_adapter(taught_model_dir, tmp_path):
    from azr.commands.evaluate import resolve_model_spec
    from azr.models.loading import load_model

    trainer = _lora_run(taught_model_dir, tmp_path / "run", 1)
    spec = resolve_model_spec(str(tmp_path / "run"))
    assert Path(spec) == tmp_path / "run" / "checkpoints" / "step-000001" / "adapter"
    merged, tokenizer = load_model(spec)
    assert not hasattr(merged, "peft_config")  # a plain model, the adapter folded into its weights
    ids = torch.tensor([tokenizer.encode("def f(x):\n    return x + 1")])
    trainer.model.eval()
    with torch.no_grad():
        expected = trainer.model(input_ids=ids).logits
        got = merged(input_ids=ids).logits
        base, _ = load_model(taught_model_dir)
        untrained = base(input_ids=ids).logits
    assert not torch.allclose(untrained, expected, atol=1e-4), "the adapter changed nothing; the test proves nothing"
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)


def test_an_update_too_big_for_this_machine_stops_with_the_fix_named(taught_model_dir, tmp_path):
    from azr.exceptions import InsufficientMemoryError
    from azr.models.memory import available_memory
    from azr.selfplay.policy import Rollout
    from azr.selfplay.preflight import check_update_memory

    available = available_memory()
    if available is None:
        pytest.skip("no /proc/meminfo here: the check claims nothing")
    trainer = Trainer(load_config(None, small(taught_model_dir, 1, "optim.micro_batch_size=8")), tmp_path / "run")

    def check(rollouts):
        cfg = trainer.config
        check_update_memory(rollouts, trainer.model, trainer.updater.optimizer, trainer.device, cfg.model, cfg.optim)

    fits = [Rollout([1] * 50, [2] * 40, [-1.0] * 40, 1.0)] * 8
    check(fits)  # the test config's real size passes
    # Sequences long enough that their logits alone exceed what the machine has (nothing is allocated).
    vocab = trainer.model.config.vocab_size
    width = int(available // (8 * vocab * 4)) + 1
    huge = [Rollout([1] * 10, [2] * width, [-1.0] * width, 1.0)] * 8
    with pytest.raises(InsufficientMemoryError, match=r"optim\.micro_batch_size.*model\.gradient_checkpointing"):
        check(huge)


class RecordingSampler:
    """The real transformers sampler, recording each call's generation settings."""

    def __init__(self, model, tokenizer):
        from azr.sampling.hf import TransformersSampler

        self.inner = TransformersSampler(model, tokenizer, batch_size=16)
        self.calls = []

    def generate(self, prompts, config, progress=None):
        out = self.inner.generate(prompts, config, progress)
        self.calls.append((config, out))
        return out


def test_solve_rates_use_n_samples_at_temperature_one_even_when_rollouts_are_greedy(taught_model_dir, tmp_path):
    recorder = {}

    def factory(model, tokenizer):
        recorder["s"] = RecordingSampler(model, tokenizer)
        return recorder["s"]

    config = load_config(None, small(taught_model_dir, 1, "sampler.temperature=0.0", "selfplay.solve_rate_samples=8"))
    trainer = Trainer(config, tmp_path / "run", sampler_factory=factory)
    trainer.train_step()
    calls = recorder["s"].calls
    estimates = [(c, out) for c, out in calls if c.n == 8]
    assert estimates, "no valid proposal reached solve-rate estimation"
    assert all(c.temperature == 1.0 for c, _ in estimates)
    assert all(c.temperature == 0.0 and c.n == 1 for c, _ in calls if c.n != 8)
    # Not greedy: the 8 samples of a task differ from each other.
    assert any(len({tuple(s.token_ids) for s in group}) > 1 for _, out in estimates for group in out)


def test_format_only_control_pays_for_the_format_and_ignores_correctness(taught_model_dir, tmp_path):
    trainer = Trainer(
        load_config(None, small(taught_model_dir, 1, "selfplay.reward_mode='format_only'")), tmp_path / "r"
    )
    trainer.fit()
    samples = trainer.last_samples
    assert samples
    # Every trained reply earns 1 or the format-error penalty: wrong answers and invalid tasks pay too.
    assert {s["reward"] for s in samples} <= {1.0, -1.0}
    row = metrics(tmp_path / "r")[-1]
    solved = [row[f"{t}/solve/accuracy"] for t in ("deduction", "abduction", "induction")]
    paid = [row[f"{t}/solve/reward_mean"] for t in ("deduction", "abduction", "induction")]
    fmt = [row[f"{t}/solve/format_error_rate"] for t in ("deduction", "abduction", "induction")]
    for accuracy, reward, format_errors in zip(solved, paid, fmt, strict=True):
        if accuracy is not None and reward is not None:
            assert reward == pytest.approx(1.0 - 2.0 * format_errors)  # 1 per well-formed, -1 per format error


def test_random_control_pays_a_fair_coin_whatever_the_reply(taught_model_dir, tmp_path):
    trainer = Trainer(load_config(None, small(taught_model_dir, 1, "selfplay.reward_mode='random'")), tmp_path / "r")
    trainer.fit()
    rewards = [s["reward"] for s in trainer.last_samples]
    assert rewards and set(rewards) <= {0.0, 1.0}
    assert 0 < sum(rewards) < len(rewards), rewards  # both faces of the coin among the step's replies


def test_each_phase_reports_step_task_type_samples_and_tokens(taught_model_dir, tmp_path, caplog):
    """run.progress on, no terminal (as under pytest): one INFO line per phase, in step order, named with
    the count of each task type, counted; their token counts add up to what the step's metrics say was
    generated and trained on."""
    import logging
    import re

    trainer = Trainer(load_config(None, small(taught_model_dir, 1, "run.progress=true")), tmp_path / "run")
    with caplog.at_level(logging.INFO, logger="azr.runs.progress"):
        trainer.fit()
    lines = [r.getMessage() for r in caplog.records if r.name == "azr.runs.progress"]
    names = [line.split(":")[0] for line in lines]
    phases = [re.sub(r" \[.*\]$", "", name) for name in names]
    assert phases == [f"step 1/1 {p}" for p in ("propose", "validate", "solve-rate", "solve", "update")] + ["self-play"]

    def per_type(name):
        match = re.search(r"\[(.*)\]$", name)
        assert match, name
        counts = [part.rsplit(" ", 1) for part in match.group(1).split(" · ")]
        return {t: int(k) for t, k in counts}

    def parse(line):
        match = re.search(r": (\d+)/(\d+) (\w+)s\b(?:, ([\d,]+) tokens)?", line)
        assert match, line
        done, total, unit, tokens = match.groups()
        return int(done), int(total), unit, int((tokens or "0").replace(",", ""))

    counts = dict(zip(phases, map(parse, lines), strict=True))
    types = dict(zip(phases, names, strict=True))
    for name, (done, total, _, _) in counts.items():
        assert done == total, name
    assert per_type(types["step 1/1 propose"]) == dict.fromkeys(("deduction", "abduction", "induction"), 3)
    assert per_type(types["step 1/1 validate"]) == dict.fromkeys(("deduction", "abduction", "induction"), 3)
    assert per_type(types["step 1/1 solve"]) == dict.fromkeys(("deduction", "abduction", "induction"), 2)
    assert counts["step 1/1 propose"][:3] == (9, 9, "sample")
    assert counts["step 1/1 validate"][:3] == (9, 9, "proposal")
    assert counts["step 1/1 solve"][:3] == (6, 6, "sample")
    rates = per_type(types["step 1/1 solve-rate"])
    assert all(k % 4 == 0 for k in rates.values())  # 4 samples per valid proposal
    assert counts["step 1/1 solve-rate"][1] == sum(rates.values())
    row = metrics(tmp_path / "run")[-1]
    for t, k in rates.items():
        assert k == 4 * round(row[f"{t}/propose/valid_rate"] * 3)
    assert counts["self-play"][:3] == (1, 1, "step")
    row = metrics(tmp_path / "run")[-1]
    generated = sum(
        tokens for name, (_, _, _, tokens) in counts.items() if name.endswith(("propose", "solve", "-rate"))
    )
    # One sampler call per generating phase, all task types together.
    assert generated == row["generation/tokens"] > 0
    assert counts["step 1/1 update"][3] == row["update/tokens"]


def test_propose_alone_gives_each_proposal_its_outcome_and_changes_nothing(taught_model_dir, tmp_path):
    """``Trainer.propose`` (what benches/proposal_bench.py measures) works on a fresh trainer, before any
    step: one outcome per proposal, valid ones are tasks of the asked type, and no buffer or weight moves."""
    import numpy as np

    from azr.verify.parsing import FormatError
    from azr.verify.tasks import Task
    from azr.verify.validation import Rejected

    trainer = Trainer(load_config(None, small(taught_model_dir, 1)), tmp_path / "run")
    before = {t: list(trainer.buffers[t].tasks) for t in TaskType}
    proposed = trainer.propose(dict.fromkeys(TaskType, 3), np.random.default_rng(0))
    assert list(proposed) == list(TaskType)
    for task_type, (samples, outcomes) in proposed.items():
        assert len(samples) == len(outcomes) == 3
        assert all(isinstance(o, Task | Rejected | FormatError) for o in outcomes)
        assert all(o.task_type is task_type for o in outcomes if isinstance(o, Task))
    assert {t: list(trainer.buffers[t].tasks) for t in TaskType} == before
    assert trainer.step == 0


def test_each_generating_phase_is_one_sampler_call_over_all_task_types(taught_model_dir, tmp_path):
    """propose, solve-rate and solve each call the sampler once per step, whatever the number of types,
    with the phase's budget and temperature (the real sampler underneath, only counted)."""
    from azr.sampling.hf import TransformersSampler

    calls = []

    class Counted:
        def __init__(self, inner):
            self.inner = inner

        def generate(self, prompts, config, progress=None):
            calls.append((len(prompts), config))
            return self.inner.generate(prompts, config, progress)

    config = load_config(None, small(taught_model_dir, 1))
    trainer = Trainer(
        config,
        tmp_path / "run",
        sampler_factory=lambda model, tokenizer: Counted(TransformersSampler(model, tokenizer, batch_size=16)),
    )
    row = trainer.train_step()
    sp, sampler = config.selfplay, config.sampler
    valid = sum(
        round(row[f"{t}/propose/valid_rate"] * sp.proposals_per_type) for t in ("deduction", "abduction", "induction")
    )
    expected = [(3 * sp.proposals_per_type, 1, sampler.max_new_tokens_propose, sampler.temperature)]
    if valid:  # no valid proposal: no solve-rate call at all
        expected.append((valid, sp.solve_rate_samples, sampler.max_new_tokens_solve, 1.0))
    expected.append((3 * sp.solves_per_type, 1, sampler.max_new_tokens_solve, sampler.temperature))
    assert [(k, c.n, c.max_new_tokens, c.temperature) for k, c in calls] == expected
    assert len({c.seed for _, c in calls}) == len(calls)  # each phase draws from its own seed
