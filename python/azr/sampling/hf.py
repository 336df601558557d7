"""Generation with Hugging Face transformers (CPU or GPU): batched ``model.generate`` with behaviour log-probs.

Sampling draws exactly from ``softmax(logits / temperature)`` truncated to the smallest set of tokens
whose probability reaches ``top_p``; ``temperature == 0`` is greedy. The model's own
``generation_config`` sampling defaults (``top_k``, ``repetition_penalty``, ``min_p``, ...) are not
applied: only its EOS/pad/BOS ids are used, so the log-probs returned are those of the policy the
trainer assumes.

Temperature and top-p are applied by :class:`_BehaviourLogProbs`, the last logits processor, which
also records the log-probability of each chosen token as generation goes. That keeps one
``[rows, vocab]`` tensor alive instead of the ``[steps, rows, vocab]`` that ``output_scores=True``
accumulates (2.5 GB for 8 completions of 512 tokens over Qwen's 152k-token vocabulary).
"""

from __future__ import annotations

import contextlib
import hashlib
import math
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any, cast

from azr.sampling.base import GenerationConfig, Progress, Prompt, Sample

if TYPE_CHECKING:
    import torch
    from transformers import GenerationMixin, PreTrainedModel, PreTrainedTokenizerBase

__all__ = ["TransformersSampler", "encode_prompt", "render"]


def render(tokenizer: PreTrainedTokenizerBase, prompt: Prompt) -> str:
    """The text the model is conditioned on: a string as is, chat messages through the chat template.

    Messages are rendered with ``add_generation_prompt=True`` (the text ends where the assistant's
    reply begins); when the last message is the assistant's, the reply is prefilled with it and rendered
    open (``continue_final_message=True``), for the model to continue. A tokenizer without a chat
    template gets the message contents joined by blank lines.
    """
    if isinstance(prompt, str):
        return prompt
    messages = [dict(message) for message in prompt]
    prefilled = bool(messages) and messages[-1].get("role") == "assistant"
    if getattr(tokenizer, "chat_template", None):
        if prefilled:  # the reply is begun: render it open, for the model to continue
            text = tokenizer.apply_chat_template(messages, tokenize=False, continue_final_message=True)
        else:
            text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        assert isinstance(text, str)
        return text
    return "\n\n".join(message["content"] for message in messages)


def encode_prompt(tokenizer: PreTrainedTokenizerBase, prompt: Prompt) -> list[int]:
    """Token ids of the rendered prompt (a chat template writes its own special tokens; plain text gets the usual)."""
    ids = tokenizer(render(tokenizer, prompt), add_special_tokens=isinstance(prompt, str))["input_ids"]
    return [int(i) for i in ids]


class _BehaviourLogProbs:
    """Last logits processor: applies temperature and top-p, and records the log-prob of each chosen token.

    Called once per step with the ids so far and that step's (already processed) logits. The token chosen
    at step ``t`` is only known at step ``t + 1`` (it is then the last column of ``input_ids``), so the
    step's log-softmax is kept until then; :meth:`logprobs` gathers the final step after ``generate``.

    With ``progress``, each step also reports the tokens about to be chosen: one per row that has not
    yet chosen an EOS token (finished rows only get padding). That is exactly the completions' kept
    lengths (EOS included), counted while ``generate`` runs rather than after it.
    """

    def __init__(
        self,
        temperature: float,
        top_p: float,
        progress: Progress | None = None,
        eos_token_ids: Sequence[int] = (),
        row_seeds: Sequence[int] = (),
    ) -> None:

        self.temperature = temperature
        self.row_seeds = list(row_seeds)
        self.generators: list[torch.Generator] = []
        """One random stream per row (sampling only), on the logits' device, made at the first step: a
        row's t-th token uses its stream's t-th draw."""
        self.top_p = top_p
        self.previous: torch.Tensor | None = None
        self.chosen: list[torch.Tensor] = []
        self.progress = progress
        self.eos_token_ids = list(eos_token_ids)
        self.finished: torch.Tensor | None = None
        self.eos: torch.Tensor | None = None
        self.counted = 0
        """Tokens reported to ``progress`` so far."""

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        import torch

        if self.previous is not None:
            self.chosen.append(self.previous.gather(1, input_ids[:, -1:]).squeeze(1))
        if self.progress is not None:
            if self.finished is None:  # the first step: nothing chosen yet
                self.finished = torch.zeros(input_ids.shape[0], dtype=torch.bool, device=input_ids.device)
                self.eos = torch.tensor(self.eos_token_ids, dtype=input_ids.dtype, device=input_ids.device)
            elif self.eos is not None:
                self.finished |= torch.isin(input_ids[:, -1], self.eos)
            active = int((~self.finished).sum())
            self.counted += active
            self.progress(0, active)
        scores = scores.float()
        if self.temperature > 0:
            scores = scores / self.temperature
            if self.top_p < 1.0:
                scores = _top_p_mask(scores, self.top_p)
        self.previous = torch.log_softmax(scores, dim=-1)
        if not self.row_seeds:
            return scores
        return self._choose(self.previous)

    def _choose(self, logp: torch.Tensor) -> torch.Tensor:
        """Draw each row's token from ``exp(logp)`` with the row's own generator (Gumbel-max:
        ``argmax(logp - log E)``, ``E ~ Exp(1)``, is an exact categorical draw) and return scores that
        make it the only choice, for the greedy search ``generate`` runs. A row's draw then depends on
        its seed and its own logits, not on the rows it was batched with."""
        import torch

        if not self.generators:
            self.generators = [torch.Generator(device=logp.device).manual_seed(s) for s in self.row_seeds]
        noise = torch.stack(
            [torch.empty(logp.shape[1], device=logp.device).exponential_(generator=g) for g in self.generators]
        )
        # exponential_ can return exactly 0 on CPU: -inf - log(0) would be NaN, which argmax would pick.
        chosen = (logp - noise.clamp_min_(torch.finfo(noise.dtype).tiny).log()).argmax(dim=-1, keepdim=True)
        return torch.full_like(logp, -math.inf).scatter(1, chosen, 0.0)

    def logprobs(self, generated: torch.Tensor) -> torch.Tensor:
        """``[rows, steps]`` log-probs of ``generated`` (the new tokens, prompt excluded)."""
        import torch

        steps = generated.shape[1]
        columns = self.chosen[:steps]
        if len(columns) < steps:  # the last kept token was chosen from the last recorded distribution
            assert self.previous is not None and len(columns) == steps - 1
            columns.append(self.previous.gather(1, generated[:, -1:]).squeeze(1))
        return torch.stack(columns, dim=1) if columns else generated.new_zeros((generated.shape[0], 0)).float()


class _StopStrings:
    """A stopping criterion: a row is done once its *generated* text holds a stop string (transformers'
    own ``stop_strings`` also match across the prompt's end, which vLLM's ``stop`` does not). Only the
    last few generated tokens are decoded each step: a stop string of L characters ends within the last
    L + 2 tokens of the step that completes it."""

    def __init__(self, tokenizer: PreTrainedTokenizerBase, stop: Sequence[str], prompt_width: int) -> None:
        self.tokenizer = tokenizer
        self.stop = list(stop)
        self.prompt_width = prompt_width
        self.window = max(len(s) for s in self.stop) + 2

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor, **kwargs: object) -> torch.Tensor:
        import torch

        generated = input_ids[:, self.prompt_width :]
        tail = generated[:, -self.window :].tolist()
        done = [any(s in self.tokenizer.decode(ids, skip_special_tokens=True) for s in self.stop) for ids in tail]
        return torch.tensor(done, dtype=torch.bool, device=input_ids.device)


def _top_p_mask(scores: torch.Tensor, top_p: float) -> torch.Tensor:
    """Set to -inf every token outside the smallest highest-probability set whose mass reaches ``top_p``."""
    import torch

    ordered, order = scores.sort(dim=-1, descending=True)
    probs = ordered.softmax(dim=-1)
    before = probs.cumsum(dim=-1) - probs  # mass of the strictly more likely tokens
    drop_sorted = before >= top_p
    drop_sorted[:, 0] = False
    drop = torch.zeros_like(drop_sorted).scatter(1, order, drop_sorted)
    return scores.masked_fill(drop, -math.inf)


class TransformersSampler:
    """:class:`~azr.sampling.base.Sampler` over a transformers causal LM and its tokenizer.

    ``batch_size`` bounds the number of sequences decoded together: one ``model.generate`` call takes
    ``batch_size // n`` prompts with ``n`` completions each, or, when ``n > batch_size``, one prompt's
    completions ``batch_size`` at a time (greedy decoding needs one row per prompt). Inputs go to ``device``
    (default: the model's). Each sampled completion draws from its own random stream, seeded from
    (``GenerationConfig.seed``, prompt index, sample index), so the same prompts and config give the
    same samples whatever ``batch_size``: in float32 the same tokens, with log-probs equal to float32
    rounding (a matmul's summation order changes with the batch's shape: 5e-7 measured); in bf16 the
    logits move by bf16 rounding with the batch, so a token can change where two are near-tied. Without
    a seed, the call's base seed is drawn from torch's global RNG. ``autocast_dtype`` (the trainer
    passes bf16 where it computes in bf16) runs generation under ``torch.autocast``. The model is put in
    eval mode while generating and back in train mode afterwards if it was training.

    A ``progress`` given to :meth:`generate` hears of every decoded token as it is chosen and of each
    batch's samples when the batch ends. ``progress=True`` here shows a display of the sampler's own
    (:class:`azr.runs.progress.PhaseDisplay`, samples and tokens) for calls given none; the trainer and
    ``azr eval`` pass their own, named after the phase.
    """

    def __init__(
        self,
        model: PreTrainedModel,
        tokenizer: PreTrainedTokenizerBase,
        *,
        batch_size: int = 8,
        device: str | torch.device | None = None,
        progress: bool = False,
        autocast_dtype: torch.dtype | None = None,
    ) -> None:
        import torch

        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.model = model
        self.tokenizer = tokenizer
        self.batch_size = batch_size
        self.device = torch.device(device) if device is not None else next(model.parameters()).device
        self.progress = progress
        self.autocast_dtype = autocast_dtype
        pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
        if pad is None:
            raise ValueError(
                "the tokenizer has neither a pad nor an EOS token; load it with azr.models.loading.load_model"
            )
        self.pad_token_id = int(pad)
        self.eos_token_ids = _eos_ids(model, tokenizer)

    def generate(
        self, prompts: Sequence[Prompt], config: GenerationConfig, progress: Progress | None = None
    ) -> list[list[Sample]]:
        """``config.n`` samples for each prompt, in prompt order; ``progress`` is told of tokens and samples."""
        if progress is None and self.progress and prompts:
            from azr.runs.progress import PhaseDisplay

            with PhaseDisplay().phase("generate", len(prompts) * config.n) as own:
                return self._generate(prompts, config, own)
        return self._generate(prompts, config, progress)

    def _generate(
        self, prompts: Sequence[Prompt], config: GenerationConfig, progress: Progress | None
    ) -> list[list[Sample]]:
        import torch

        _validate(config)
        encoded = [encode_prompt(self.tokenizer, prompt) for prompt in prompts]
        if any(not ids for ids in encoded):
            raise ValueError("a prompt renders to no tokens; give the model something to condition on")
        sample = config.temperature > 0
        rows = config.n if sample else 1  # greedy completions are all the same: decode one, copy it
        # (prompt indices, completions of each, index of the first) per generate call
        calls: list[tuple[list[int], int, int]] = []
        if rows <= self.batch_size:
            per_call = self.batch_size // rows
            calls = [
                (list(range(i, min(i + per_call, len(encoded)))), rows, 0) for i in range(0, len(encoded), per_call)
            ]
        else:
            calls = [
                ([i], min(self.batch_size, rows - k), k)
                for i in range(len(encoded))
                for k in range(0, rows, self.batch_size)
            ]
        groups: list[list[Sample]] = [[] for _ in encoded]
        with torch.no_grad(), self._eval_mode(), self._autocast():
            base = config.seed if config.seed is not None else int(torch.randint(0, 2**62, ()).item())
            for indices, count, first in calls:
                seeds = [_row_seed(base, i, first + j) for i in indices for j in range(count)] if sample else []
                batch = [encoded[i] for i in indices]
                for i, group in zip(indices, self._generate_batch(batch, config, count, progress, seeds), strict=True):
                    groups[i].extend(group)
        if not sample:
            groups = [[group[0]] + [_copy(group[0]) for _ in range(config.n - 1)] for group in groups]
            if progress is not None and config.n > 1:
                progress(len(groups) * (config.n - 1), 0)
        return groups

    def _generate_batch(
        self,
        batch: list[list[int]],
        config: GenerationConfig,
        rows_per_prompt: int,
        progress: Progress | None,
        row_seeds: Sequence[int],
    ) -> list[list[Sample]]:
        """``rows_per_prompt`` completions of each prompt in ``batch``, decoded together; when sampling,
        row ``r`` (prompt ``r // rows_per_prompt``) draws its tokens from ``row_seeds[r]`` alone."""
        import torch
        from transformers import GenerationConfig as HFGenerationConfig
        from transformers import LogitsProcessorList

        width = max(len(ids) for ids in batch)
        rows = [ids for ids in batch for _ in range(rows_per_prompt)]
        input_ids = torch.full((len(rows), width), self.pad_token_id, dtype=torch.long)
        attention_mask = torch.zeros((len(rows), width), dtype=torch.long)
        for row, ids in enumerate(rows):
            input_ids[row, width - len(ids) :] = torch.tensor(ids, dtype=torch.long)
            attention_mask[row, width - len(ids) :] = 1

        sample = config.temperature > 0
        recorder = _BehaviourLogProbs(
            config.temperature if sample else 0.0, config.top_p, progress, self.eos_token_ids, row_seeds
        )
        # The recorder chooses sampled tokens itself (per-row streams), so generate always runs greedy
        # search over its one-choice scores; transformers' own warpers and RNG are never used.
        options: dict[str, object] = {
            "max_new_tokens": config.max_new_tokens,
            "do_sample": False,
            "return_dict_in_generate": True,
            "pad_token_id": self.pad_token_id,
            "eos_token_id": self.eos_token_ids,
        }
        extra: dict[str, object] = {}
        if config.stop:  # rows that wrote a stop string finish; they are cut just after it below
            from transformers import StoppingCriteriaList

            extra["stopping_criteria"] = StoppingCriteriaList([_StopStrings(self.tokenizer, config.stop, width)])
        hf_config = HFGenerationConfig(**options)  # type: ignore[no-untyped-call]
        with self._clean_generation_defaults():
            out = cast("GenerationMixin", self.model).generate(
                input_ids=input_ids.to(self.device),
                attention_mask=attention_mask.to(self.device),
                generation_config=hf_config,
                logits_processor=LogitsProcessorList([recorder]),
                **extra,
            )
        generated = out.sequences[:, width:]
        logprobs = recorder.logprobs(generated).cpu().tolist()
        generated_ids = generated.cpu().tolist()

        samples: list[list[Sample]] = []
        for p, prompt_ids in enumerate(batch):
            group: list[Sample] = []
            for row in range(p * rows_per_prompt, (p + 1) * rows_per_prompt):
                ids = generated_ids[row]
                end = next((t for t, token in enumerate(ids) if token in self.eos_token_ids), None)
                finished = end is not None
                keep = len(ids) if end is None else end + 1
                stopped = self._stop_length(ids[:keep], config.stop)
                if stopped is not None:
                    keep, finished = stopped, True
                token_ids = ids[:keep]
                text = self.tokenizer.decode(token_ids, skip_special_tokens=True)
                assert isinstance(text, str)
                group.append(
                    Sample(
                        text=text,
                        prompt_ids=list(prompt_ids),
                        token_ids=token_ids,
                        logprobs=[float(x) for x in logprobs[row][:keep]],
                        finished=finished,
                    )
                )
            samples.append(group)
        if progress is not None:  # the samples, and any token the per-step count missed (none, by construction)
            # (A row ended by a stop string is counted until generate pads it: the display may run ahead.)
            kept = sum(len(s.token_ids) for group in samples for s in group)
            progress(len(batch) * rows_per_prompt, max(0, kept - recorder.counted))
        return samples

    def _stop_length(self, ids: list[int], stop: Sequence[str]) -> int | None:
        """The number of tokens up to and including the first stop string in ``ids``' text, or None."""
        if not stop:
            return None
        text = self.tokenizer.decode(ids, skip_special_tokens=True)
        if not any(s in text for s in stop):
            return None
        low, high = 1, len(ids)  # the shortest prefix whose text holds a stop string (monotone in length)
        while low < high:
            middle = (low + high) // 2
            prefix = self.tokenizer.decode(ids[:middle], skip_special_tokens=True)
            if any(s in prefix for s in stop):
                high = middle
            else:
                low = middle + 1
        return low

    def _autocast(self) -> contextlib.AbstractContextManager[object]:
        """Compute under ``autocast_dtype`` (as the trainer's update does), or in the weights' own format."""
        from azr.models.precision import autocast

        return autocast(self.device, self.autocast_dtype)

    @contextlib.contextmanager
    def _eval_mode(self) -> Iterator[None]:
        was_training = self.model.training
        self.model.train(False)
        try:
            yield
        finally:
            self.model.train(was_training)

    @contextlib.contextmanager
    def _clean_generation_defaults(self) -> Iterator[None]:
        """Hide the model's generation_config during ``generate`` so its sampling defaults do not leak in."""
        from transformers import GenerationConfig as HFGenerationConfig

        owner: Any = self.model
        if hasattr(owner, "get_base_model"):  # a PEFT wrapper: the transformers model underneath generates
            owner = owner.get_base_model()
        saved = owner.generation_config
        owner.generation_config = HFGenerationConfig(  # type: ignore[no-untyped-call]
            bos_token_id=saved.bos_token_id,
            eos_token_id=self.eos_token_ids,
            pad_token_id=self.pad_token_id,
        )
        try:
            yield
        finally:
            owner.generation_config = saved


def _row_seed(base: int, prompt: int, sample: int) -> int:
    """The seed of one completion: a hash of (call seed, prompt index, sample index), so a completion's
    draws depend on where it stands in the call, not on the batch it was decoded in."""
    digest = hashlib.blake2b(f"{base}:{prompt}:{sample}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") >> 1


def _copy(sample: Sample) -> Sample:
    return Sample(
        text=sample.text,
        prompt_ids=list(sample.prompt_ids),
        token_ids=list(sample.token_ids),
        logprobs=list(sample.logprobs),
        finished=sample.finished,
    )


def _eos_ids(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase) -> list[int]:
    """Every token that ends a completion: the model's generation EOS ids and the tokenizer's EOS."""
    ids: list[int] = []
    configured = getattr(model.generation_config, "eos_token_id", None)
    if isinstance(configured, int):
        ids.append(configured)
    elif configured is not None:
        ids.extend(int(i) for i in configured)
    if tokenizer.eos_token_id is not None:
        ids.append(int(tokenizer.eos_token_id))
    if not ids:
        raise ValueError("neither the model's generation_config nor the tokenizer defines an EOS token")
    return sorted(set(ids))


def _validate(config: GenerationConfig) -> None:
    if config.n < 1:
        raise ValueError(f"GenerationConfig.n must be >= 1, got {config.n}")
    if config.max_new_tokens < 1:
        raise ValueError(f"GenerationConfig.max_new_tokens must be >= 1, got {config.max_new_tokens}")
    if not config.temperature >= 0:
        raise ValueError(f"GenerationConfig.temperature must be >= 0 (0 is greedy), got {config.temperature}")
    if not 0 < config.top_p <= 1:
        raise ValueError(f"GenerationConfig.top_p must be in (0, 1], got {config.top_p}")
    if isinstance(config.stop, str) or not all(isinstance(s, str) and s for s in config.stop):
        raise ValueError(f"GenerationConfig.stop must be a tuple of non-empty strings, got {config.stop!r}")
