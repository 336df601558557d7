"""The in-distribution probe: its file, its metrics (graded as in training), and `azr probe` building one
with the real trainer, a real (tiny, taught) model and the real sandbox."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import pytest

pytest.importorskip("torch")

from azr.cli import main
from azr.exceptions import ConfigError
from azr.models.distributed import World
from azr.sampling.base import GenerationConfig, Progress, Prompt, Sample
from azr.selfplay.buffer import BufferSet
from azr.selfplay.config import SelfPlayConfig, load_config
from azr.selfplay.probe import (
    ProbeAnswer,
    load_probe,
    probe_answers,
    probe_metrics,
    select_probe,
    solve_probe,
    task_key,
    write_probe,
)
from azr.verify.grading import Verifier
from azr.verify.tasks import Task, TaskType

DOUBLE = "def f(x):\n    return 2 * x"
TASKS = [
    Task(TaskType.DEDUCTION, DOUBLE, ("3",), ("6",), step=0),
    Task(TaskType.DEDUCTION, DOUBLE, ("5",), ("10",), step=0),
    Task(TaskType.ABDUCTION, DOUBLE, ("4",), ("8",), step=1),
    Task(TaskType.INDUCTION, DOUBLE, ("1", "2"), ("2", "4"), "doubles", step=1),
]


class Scripted:
    """A sampler that answers each prompt with the next scripted reply and records what it was asked."""

    def __init__(self, replies: Sequence[str]) -> None:
        self.replies = list(replies)
        self.configs: list[GenerationConfig] = []

    def generate(
        self, prompts: Sequence[Prompt], config: GenerationConfig, progress: Progress | None = None
    ) -> list[list[Sample]]:
        self.configs.append(config)
        out = [[Sample(self.replies.pop(0), [], [])] for _ in prompts]
        return out


def solve_scripted(tasks: list[Task], replies: list[str], sandbox, max_new_tokens: int) -> list[ProbeAnswer]:
    """Solve the probe on one rank with scripted replies, graded by the real sandbox."""
    return solve_probe(
        tasks,
        sampler=Scripted(replies),
        verifier=Verifier(sandbox),
        selfplay=SelfPlayConfig(),
        max_new_tokens=max_new_tokens,
        world=World(rank=0, size=1, local_rank=0),
    )


def answer(block: str, body: str) -> str:
    return f"<think>easy</think>\n<answer>\n```{block}\n{body}\n```\n</answer>"


def test_a_probe_file_round_trips_and_bad_lines_are_named(tmp_path: Path) -> None:
    path = tmp_path / "probe.jsonl"
    write_probe(path, TASKS)
    assert load_probe(path) == TASKS
    bad = {
        "[1, 2]": "not a JSON object",
        '{"task_type": "sorting", "program": "p", "inputs": ["1"], "outputs": ["1"]}': "sorting",
        '{"task_type": "deduction", "program": 3, "inputs": ["1"], "outputs": ["1"]}': "must be strings",
        '{"task_type": "deduction", "program": "p", "inputs": ["1", "2"], "outputs": ["1"]}': "2 inputs but 1",
        '{"task_type": "deduction", "program": "p", "inputs": [1], "outputs": ["1"]}': "must be a string",
        "{not json": "Expecting",
    }
    for line, why in bad.items():
        path.write_text(json.dumps({"task_type": "deduction", **_record(TASKS[0])}) + "\n" + line + "\n")
        with pytest.raises(ConfigError, match=rf"probe.jsonl:2: not a probe task .*{why}"):
            load_probe(path)
    path.write_text("\n")
    with pytest.raises(ConfigError, match="holds no tasks"):
        load_probe(path)
    path.write_bytes(b'{"task_type": "\xff"}\n')  # not UTF-8: a ConfigError, not a crash
    with pytest.raises(ConfigError, match="cannot be read as a probe file"):
        load_probe(path)
    gz = tmp_path / "probe.jsonl.gz"
    gz.write_text("not gzip")
    with pytest.raises(ConfigError, match="cannot be read as a probe file"):
        load_probe(gz)
    with pytest.raises(ConfigError, match="azr probe"):
        load_probe(tmp_path / "missing.jsonl")


def _record(task: Task) -> dict[str, object]:
    return {"program": task.program, "inputs": list(task.inputs), "outputs": list(task.outputs), "step": task.step}


def test_select_probe_keeps_model_proposed_tasks_only(tmp_path: Path) -> None:
    buffers = BufferSet(None, cap=64, persist=False)
    for task in TASKS:
        buffers[task.task_type].add([task])
    chosen = select_probe(buffers, per_type=1)
    assert [t.task_type for t in chosen] == [TaskType.DEDUCTION, TaskType.ABDUCTION, TaskType.INDUCTION]
    assert all(t.step >= 0 for t in chosen)  # the identity seeds (step -1) are never probe tasks
    assert chosen[0] == TASKS[0]


def test_hold_out_refuses_probe_tasks_and_drops_ones_already_held() -> None:
    buffers = BufferSet(None, cap=64, persist=False)
    buffer = buffers[TaskType.DEDUCTION]
    buffer.add([TASKS[0], TASKS[1]])
    # A resumed run given a probe: the held task equal to a probe task (renamed identifiers) goes.
    renamed = Task(TaskType.DEDUCTION, "def f(y):\n    return 2 * y", ("3",), ("6",))
    assert buffer.hold_out([renamed]) == 1
    assert buffer.proposed == [TASKS[1]]
    assert buffer.add([TASKS[0]]) == [False]  # and never comes back


def test_seeding_rounds_draw_streams_of_their_own() -> None:
    from azr.selfplay.phases import Seeds

    rounds = [Seeds(7, 0, 0, r) for r in (0, 1, 2)]
    assert len({s.generation(1) for s in rounds}) == 3
    assert len({int(s.rng(0).integers(1 << 62)) for s in rounds}) == 3
    # Training steps (round 0) keep the streams they always had.
    assert rounds[0].generation(1) == (7 * 1_000_003 + 31) % 2**31


def test_azr_probe_checks_its_paths_before_loading_anything(tmp_path: Path, capsys) -> None:
    assert main(["probe", "--out", str(tmp_path / "no" / "probe.jsonl")]) == 2
    assert "--out" in capsys.readouterr().err
    (tmp_path / "old" / "buffers").mkdir(parents=True)
    assert main(["probe", "--out", str(tmp_path / "p.jsonl"), "--run-dir", str(tmp_path / "old")]) == 2
    assert "already holds buffers" in capsys.readouterr().err


def test_probe_metrics_grade_greedy_replies_as_training_does(sandbox) -> None:
    replies = [
        answer("output", "6"),  # right
        answer("output", "f(5)"),  # code where data is asked for: a format error, never run
        answer("input", "4"),  # right: f(4) == 8, run in the sandbox
        answer("python", "def f(x):\n    return x + 1"),  # wrong on the second pair
    ]
    sampler = Scripted(replies)
    share = solve_probe(
        TASKS,
        sampler=sampler,
        verifier=Verifier(sandbox),
        selfplay=SelfPlayConfig(),
        max_new_tokens=77,
        world=World(rank=0, size=1, local_rank=0),
    )
    assert [a.index for a in share] == [0, 1, 2, 3]
    assert [a.reply for a in share] == replies
    metrics = probe_metrics(TASKS, [share])
    assert metrics == {
        "probe/deduction/accuracy": 0.5,
        "probe/deduction/format_error_rate": 0.5,
        "probe/abduction/accuracy": 1.0,
        "probe/abduction/format_error_rate": 0.0,
        "probe/induction/accuracy": 0.0,
        "probe/induction/format_error_rate": 0.0,
        "probe/overall/accuracy": 0.5,
    }
    (config,) = sampler.configs
    assert (config.temperature, config.n, config.max_new_tokens) == (0.0, 1, 77)
    # Rank 1 of 2 solves tasks 1 and 3; the merged shares must cover every task.
    other = solve_probe(
        TASKS,
        sampler=Scripted(replies[1::2]),
        verifier=Verifier(sandbox),
        selfplay=SelfPlayConfig(),
        max_new_tokens=77,
        world=World(rank=1, size=2, local_rank=1),
    )
    assert [a.index for a in other] == [1, 3]
    assert probe_metrics(TASKS, [share[0::2], other]) == metrics
    with pytest.raises(ValueError, match="verdicts for 2 of 4"):
        probe_metrics(TASKS, [other])


def test_paired_probe_comparison_counts_the_tasks_only_one_evaluation_solved(sandbox, tmp_path, capsys) -> None:
    """``azr metrics --paired A B`` on two evaluations' answer files: B - A per type and overall, from the
    tasks only one of them solved, with the paired standard error; files of other tasks are refused."""
    right = [answer("output", "6"), answer("output", "10"), answer("input", "4"), answer("python", DOUBLE)]
    wrong = [
        answer("output", "7"),
        answer("output", "f(5)"),
        answer("input", "5"),
        answer("python", "def f(x):\n    return x"),
    ]

    def evaluation(replies: list[str], name: str, tasks: list[Task] = TASKS) -> Path:
        share = solve_scripted(tasks, replies, sandbox, 64)
        path = tmp_path / name
        path.write_text(json.dumps(probe_answers(tasks, [share], source="probe.jsonl")))
        return path

    # A solves deduction 1 and abduction; B solves deduction 1 and 2 and induction.
    a = evaluation([right[0], wrong[1], right[2], wrong[3]], "a.probe.json")
    b = evaluation([right[0], right[1], wrong[2], right[3]], "b.probe.json")
    record = json.loads(a.read_text())
    assert [x["verdict"] for x in record["answers"]] == ["accepted", "format_error", "accepted", "wrong"]
    assert record["answers"][1]["reply"] == wrong[1]
    assert main(["metrics", "--paired", str(a), str(b)]) == 0
    rows = {
        line.split("|")[1].strip(): [c.strip() for c in line.split("|")[2:-1]]
        for line in capsys.readouterr().out.splitlines()
        if line.startswith("| ") and "---" not in line
    }
    # columns: tasks, A, B, only A, only B, B - A, paired SE
    assert rows["deduction"] == ["2", "0.50", "1.00", "0", "1", "+0.50", "0.35"]
    assert rows["abduction"] == ["1", "1.00", "0.00", "1", "0", "-1.00", "0.00"]
    assert rows["induction"] == ["1", "0.00", "1.00", "0", "1", "+1.00", "0.00"]
    # overall: p10 = 1/4, p01 = 2/4, SE = sqrt((0.75 - 0.0625) / 4)
    assert rows["overall"] == ["4", "0.50", "0.75", "1", "2", "+0.25", f"{((0.75 - 0.0625) / 4) ** 0.5:.2f}"]

    other = [replace(t, inputs=("9",), outputs=("18",)) if t.task_type is TaskType.ABDUCTION else t for t in TASKS]
    c = evaluation(right, "c.probe.json", other)
    assert main(["metrics", "--paired", str(a), str(c)]) == 2
    assert "did not solve the same probe tasks" in capsys.readouterr().err
    bad = tmp_path / "eval.json"
    bad.write_text('{"format": "azr-eval/1", "benchmarks": {}}')
    assert main(["metrics", "--paired", str(a), str(bad)]) == 2
    assert "not a probe answers file" in capsys.readouterr().err
    assert main(["metrics", "--paired", str(a), str(b), str(tmp_path)]) == 2
    # Hand-edited answers of the wrong kind: refused, never counted as unsolved.
    for field, value in (("verdict", True), ("verdict", "ACCEPTED"), ("task_type", None)):
        edited = json.loads(a.read_text())
        edited["answers"][0][field] = value
        bad.write_text(json.dumps(edited))
        assert main(["metrics", "--paired", str(bad), str(b)]) == 2
        err = capsys.readouterr().err
        assert "must be strings" in err if field == "task_type" else "is not one of" in err
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 100_000 + "]" * 100_000)
    assert main(["metrics", "--paired", str(a), str(deep)]) == 2
    assert "cannot be read as probe answers" in capsys.readouterr().err


def test_eval_probe_must_name_a_file_when_evaluating(tmp_path: Path) -> None:
    crux = tmp_path / "crux.jsonl"
    crux.write_text("")
    base = ["eval.every=1", f"eval.cruxeval={json.dumps(str(crux))}", "eval.protocol='selfplay'"]
    with pytest.raises(ConfigError, match=r"eval\.probe must be a file .*azr probe"):
        load_config(None, [*base, f"eval.probe={json.dumps(str(tmp_path / 'nope.jsonl'))}"])
    with pytest.raises(ConfigError, match=r"eval\.probe must be empty while eval.every = 0"):
        load_config(None, [f"eval.probe={json.dumps(str(crux))}"])
    assert load_config(None, base).eval.probe == ""


def test_azr_probe_builds_a_probe_of_valid_model_proposed_tasks(taught_model_dir, tmp_path, capsys) -> None:
    out = tmp_path / "probe.jsonl"
    code = main(
        [
            "probe",
            "--per-type",
            "2",
            "--out",
            str(out),
            "--set",
            f"model.name={json.dumps(str(taught_model_dir))}",
            "--set",
            "model.dtype='float32'",
            "--set",
            "run.progress=false",
            "--set",
            "run.seed=7",
            "--set",
            "sampler.max_new_tokens_propose=64",
            "--set",
            "selfplay.proposals_per_type=4",
            "--set",
            "selfplay.solve_rate_samples=2",
            "--set",
            "selfplay.max_seeding_rounds=3",
            "--set",
            "selfplay.induction_inputs=4",
            "--set",
            "selfplay.induction_shown=2",
        ]
    )
    assert code == 0
    printed = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    tasks = load_probe(out)
    assert printed["tasks"] == {t: sum(task.task_type == t for task in tasks) for t in printed["tasks"]}
    assert tasks and all(task.step >= 0 for task in tasks)  # the taught model's own proposals, no seeds
    assert all(count <= 2 for count in printed["tasks"].values())


def test_a_run_holds_the_probe_out_and_logs_it_at_each_evaluation(taught_model_dir, tmp_path) -> None:
    from conftest import CRUXEVAL
    from test_trainer import metrics, small

    from azr.selfplay.trainer import Trainer

    if not CRUXEVAL.is_file():
        pytest.skip(f"CRUXEval data not found at {CRUXEVAL}")
    probe = tmp_path / "probe.jsonl"
    write_probe(probe, TASKS)
    extra = [
        "eval.every=1",
        f"eval.cruxeval={json.dumps(str(CRUXEVAL))}",
        "eval.limit=1",
        'eval.benchmarks=["cruxeval-o"]',
        "eval.max_new_tokens=32",
        "eval.protocol='selfplay'",
        f"eval.probe={json.dumps(str(probe))}",
    ]
    trainer = Trainer(load_config(None, small(taught_model_dir, 1, *extra)), tmp_path / "run")
    # Held out: a proposal equal to a probe task, up to the deduper's canonical form, is never admitted.
    respaced = Task(TaskType.DEDUCTION, DOUBLE.replace("2 * x", "2*x"), ("3",), ("6",), step=0)
    assert trainer.buffers[TaskType.DEDUCTION].add([respaced]) == [False]
    # A deduction probe task is an abduction task too (the same program and input): held out of both.
    assert trainer.buffers[TaskType.ABDUCTION].add([replace(respaced, task_type=TaskType.ABDUCTION)]) == [False]
    assert trainer.buffers[TaskType.DEDUCTION].add([Task(TaskType.DEDUCTION, DOUBLE, ("7",), ("14",))]) == [True]
    trainer.fit()
    rows = [r for r in metrics(tmp_path / "run") if "probe/overall/accuracy" in r]
    assert [r["step"] for r in rows] == [0, 1]
    for row in rows:
        for t in ("deduction", "abduction", "induction"):
            assert 0.0 <= row[f"probe/{t}/accuracy"] <= 1.0
            assert 0.0 <= row[f"probe/{t}/format_error_rate"] <= 1.0
        # Each evaluation's answers are kept task by task, and agree with its logged accuracy.
        record = json.loads((tmp_path / "run" / "eval" / f"step-{row['step']:06d}.probe.json").read_text())
        assert record["probe"] == str(probe)
        assert [a["task"] for a in record["answers"]] == [task_key(t) for t in TASKS]
        accepted = [a["verdict"] == "accepted" for a in record["answers"]]
        assert sum(accepted) / len(TASKS) == row["probe/overall/accuracy"]
        assert all(isinstance(a["reply"], str) for a in record["answers"])
    assert (
        main(["metrics", "--paired", *(str(tmp_path / "run" / "eval" / f"step-{s:06d}.probe.json") for s in (0, 1))])
        == 0
    )


def test_solver_grades_carry_the_parsers_or_the_verifiers_reason(sandbox) -> None:
    """``phases.grades`` (what benches/solver_bench.py counts errors by): the verdicts of ``phases.grade``,
    with the reason a reply failed: the parser's when it found no block, the verifier's when the block holds
    no plain data (an unquoted string)."""
    from azr.selfplay.phases import grade, grades
    from azr.verify.grading import Verdict

    task = Task(TaskType.DEDUCTION, "def f(s):\n    return s[::-1]", ("'ab'",), ("'ba'",))
    replies = [
        "<think>reversed</think>\n<answer>\n```output\n'ba'\n```\n</answer>",
        "<think>reversed</think>\n<answer>\n```output\nba\n```\n</answer>",
        "<think>it is 'ba'</think>\n</answer>",
    ]
    graded = grades(Verifier(sandbox), [task] * 3, replies, strict=False)
    assert [g.verdict for g in graded] == grade(Verifier(sandbox), [task] * 3, replies, strict=False)
    assert [g.verdict for g in graded] == [Verdict.ACCEPTED, Verdict.FORMAT_ERROR, Verdict.FORMAT_ERROR]
    assert "not a plain data literal" in graded[1].reason
    assert graded[2].reason.startswith("expected 1 ```output block")


def test_seeding_rounds_only_propose_validate_and_admit(taught_model_dir, tmp_path) -> None:
    """Nothing is trained while seeding, so a round makes only the proposer's sampler calls (each with the
    proposal budget, 64 tokens here, never the solver's 40) and admits its valid proposals."""
    from test_trainer import small

    from azr.selfplay.trainer import Trainer

    trainer = Trainer(
        load_config(None, small(taught_model_dir, 1, "selfplay.seed_buffer_size=3", "selfplay.max_seeding_rounds=2")),
        tmp_path / "run",
    )
    budgets: list[int] = []
    real_generate = trainer.sampler.generate

    def recording(prompts, config, progress=None):  # the real sampler, its budgets noted
        budgets.append(config.max_new_tokens)
        return real_generate(prompts, config, progress)

    trainer.sampler.generate = recording  # type: ignore[method-assign]
    sizes = trainer.buffers.sizes()
    trainer.seed_buffers()
    assert budgets and set(budgets) == {64}
    assert trainer.buffers.sizes() != sizes  # the taught model's valid proposals were admitted


def test_the_shipped_probe_is_50_tasks_per_type_each_solved_by_its_own_answer(sandbox) -> None:
    """configs/probes/cpu-long-qwen2.5-coder-0.5b.jsonl (the base model's proposals, validated, that the
    hour-long CPU run and its controls solve): each task's own output, input or program, replied through
    the solver's format, is graded right by the real sandbox, so a probe accuracy below 1 is the model's."""
    path = Path(__file__).resolve().parents[1] / "configs" / "probes" / "cpu-long-qwen2.5-coder-0.5b.jsonl"
    tasks = load_probe(path)
    assert {t: sum(task.task_type == t for task in tasks) for t in TaskType} == dict.fromkeys(TaskType, 50)
    tags = {TaskType.DEDUCTION: "output", TaskType.ABDUCTION: "input", TaskType.INDUCTION: "python"}
    gold = {TaskType.DEDUCTION: lambda t: t.outputs[0], TaskType.ABDUCTION: lambda t: t.inputs[0]}
    replies = [answer(tags[t.task_type], gold.get(t.task_type, lambda t: t.program)(t)) for t in tasks]
    metrics = probe_metrics(tasks, [solve_scripted(tasks, replies, sandbox, 160)])
    assert [metrics[f"probe/{t}/accuracy"] for t in ("deduction", "abduction", "induction")] == [1.0, 1.0, 1.0]
