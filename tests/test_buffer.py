"""Task buffers: seeds, dedup, cap/eviction, persistence and recovery after a kill."""

import json

import numpy as np
import pytest

from azr.exceptions import ConfigError
from azr.selfplay.buffer import IDENTITY_PROGRAM, BufferSet, TaskBuffer, seed_tasks
from azr.verify.tasks import Task, TaskType

D = TaskType.DEDUCTION


def task(k: int, step: int = 0) -> Task:
    return Task(D, f"def f(x):\n    return x + {k}", (str(k),), (str(2 * k),), step=step)


def test_seeded_with_the_identity_triple():
    (seed,) = seed_tasks(D)
    assert seed.program == IDENTITY_PROGRAM
    assert seed.triple.input == '"Hello world"' and seed.triple.output == "'Hello world'"
    (induction,) = seed_tasks(TaskType.INDUCTION, n_inputs=6)
    assert len(induction.inputs) == 6 and induction.message
    assert induction.outputs[1] == "[1, 2, 3]"


def test_duplicates_are_not_admitted_even_when_renamed():
    buf = TaskBuffer(D, cap=100)
    assert buf.add([task(1), task(2), task(1)]) == [True, True, False]
    renamed = Task(D, "def f(y):\n    return y + 1", ("1",), ("2",))
    assert buf.add([renamed]) == [False]
    assert buf.add([Task(D, IDENTITY_PROGRAM, ('"Hello world"',), ("'Hello world'",))]) == [False]
    assert len(buf) == 3


def test_cap_evicts_the_oldest_proposed_task_and_keeps_seeds():
    buf = TaskBuffer(D, cap=4)
    buf.add([task(k) for k in range(10)])
    assert len(buf) == 4
    assert buf.tasks[0].program == IDENTITY_PROGRAM
    assert [t.inputs[0] for t in buf.proposed] == ["7", "8", "9"]


def test_persisted_log_replays_to_the_same_buffer(tmp_path):
    path = tmp_path / "deduction.jsonl"
    buf = TaskBuffer(D, cap=5, path=path)
    buf.add([task(k, step=k) for k in range(8)])
    buf.add([task(3)])  # already seen (evicted since): still rejected
    again = TaskBuffer(D, cap=5, path=path)
    assert again.tasks == buf.tasks
    assert again.add([task(3)]) == [False]
    assert len(path.read_text().splitlines()) == 8


def test_a_line_cut_by_a_kill_is_dropped_but_a_corrupt_line_is_an_error(tmp_path):
    path = tmp_path / "deduction.jsonl"
    TaskBuffer(D, cap=10, path=path).add([task(1), task(2)])
    with path.open("a") as fh:
        fh.write('{"program": "def f(x): ret')
    assert [t.inputs[0] for t in TaskBuffer(D, cap=10, path=path).proposed] == ["1", "2"]
    path.write_text('{"nope": 1}\n')
    with pytest.raises(ConfigError, match="corrupt buffer line"):
        TaskBuffer(D, cap=10, path=path)


def test_read_only_replica_never_writes(tmp_path):
    path = tmp_path / "deduction.jsonl"
    TaskBuffer(D, cap=10, path=path).add([task(1)])
    replica = TaskBuffer(D, cap=10, path=path, persist=False)
    replica.add([task(2)])
    assert len(replica) == 3
    assert len(path.read_text().splitlines()) == 1


def test_wrong_type_is_refused():
    with pytest.raises(ValueError, match="cannot go into"):
        TaskBuffer(TaskType.ABDUCTION, cap=10).add([task(1)])
    with pytest.raises(ValueError, match="cap must be >= 1"):
        TaskBuffer(D, cap=0)


def test_uniform_sampling_is_distinct_and_recency_prefers_new_tasks():
    buf = TaskBuffer(D, cap=1000)
    buf.add([task(k) for k in range(200)])
    rng = np.random.default_rng(0)
    picked = buf.sample(6, rng)
    assert len({t.program for t in picked}) == 6
    recent = [buf.sample(1, rng, mode="recency", half_life=10)[0] for _ in range(300)]
    ages = [200 - int(t.inputs[0]) for t in recent if t.inputs[0] != '"Hello world"']
    assert np.median(ages) < 20
    uniform = [int(t.inputs[0]) for t in buf.sample(300, np.random.default_rng(1)) if t.inputs[0] != '"Hello world"']
    assert np.median(uniform) < 150


def test_small_buffer_samples_with_replacement():
    buf = TaskBuffer(D, cap=10)
    assert len(buf.sample(6, np.random.default_rng(0))) == 6


def test_buffer_set_files_and_induction_programs(tmp_path):
    buffers = BufferSet(tmp_path, cap=50)
    buffers[D].add([task(5)])
    assert (tmp_path / "deduction.jsonl").exists()
    assert buffers.sizes() == {"deduction": 2, "abduction": 1, "induction": 1}
    programs = buffers.programs(20, np.random.default_rng(0))
    assert set(programs) == {IDENTITY_PROGRAM, task(5).program}
    row = json.loads((tmp_path / "deduction.jsonl").read_text())
    assert row["inputs"] == ["5"] and row["outputs"] == ["10"]


def test_induction_tasks_are_admitted_once_per_input_set():
    buf = TaskBuffer(TaskType.INDUCTION, cap=100, n_inputs=2)
    program = "def f(s):\n    return s[::-1]"

    def induction(*inputs: str) -> Task:
        return Task(TaskType.INDUCTION, program, inputs, tuple(repr(i[1:-1][::-1]) for i in inputs), "reverses")

    # new input sets of one program are new tasks; the same set again (even reformatted) is not
    assert buf.add([induction("'ab'", "'cd'"), induction("'ab'", "'ef'")]) == [True, True]
    assert buf.add([induction("'ab'", "'cd'"), induction(" 'ab'", "'cd' ")]) == [False, False]
    # input boundaries count: 'a' then 'b' are two inputs, 'a' 'b' (one string to Python) would be one
    assert buf.add([induction("'a'", "'b'"), induction("'a' 'b'", "'c'")]) == [True, True]
    assert len(buf) == 1 + 4
