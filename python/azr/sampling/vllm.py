"""Generation with vLLM on a GPU, with weight sync from the trainer's torch model after each update.

``pip install 'azr[vllm]'``; vLLM is imported when a :class:`VLLMSampler` is constructed, never at import.

- **Behaviour log-probs.** The engine is created with ``logprobs_mode="processed_logprobs"`` (vLLM >=
  0.10.2), so the log-prob vLLM reports for each sampled token is taken after temperature and top-p,
  the distribution it was actually drawn from, as :class:`~azr.sampling.base.Sample` requires. Older
  vLLM releases only report the raw (temperature 1) log-probs; the sampler then logs a warning.
- **Seeds.** With ``GenerationConfig.seed`` set, every completion is its own request with its own seed
  derived from (seed, prompt index, sample index), so results do not depend on batching.
- **Weight sync** (:meth:`VLLMSampler.sync_weights`): the engine runs in this process
  (``VLLM_ENABLE_V1_MULTIPROCESSING=0`` unless set otherwise), and ``LLM.collective_rpc`` runs a small
  function on the worker that hands the trainer's ``(name, tensor)`` pairs to the vLLM model's own
  ``load_weights`` (which maps Hugging Face names onto vLLM's fused layers). The prefix cache is reset
  afterwards, since cached KV blocks were computed with the old weights. One GPU (tensor parallel size
  1) is assumed: every worker receives full tensors.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from azr.exceptions import ConfigError
from azr.sampling.base import GenerationConfig, Prompt, Sample
from azr.sampling.hf import _copy, _encode

if TYPE_CHECKING:
    import torch

__all__ = ["VLLMSampler"]

log = logging.getLogger(__name__)

_SEED_MOD = 2**31 - 1


class VLLMSampler:
    """:class:`~azr.sampling.base.Sampler` backed by a ``vllm.LLM`` engine on this process's GPU.

    ``model`` is a Hugging Face model directory or an embedded name (see :mod:`azr.models`; embedded
    GGUFs are converted to a directory once). ``gpu_memory_utilization`` is the fraction of GPU memory
    vLLM may take (leave room for the trainer); ``llm_options`` go to ``vllm.LLM`` unchanged
    (``max_model_len``, ``enforce_eager``, ...).
    """

    def __init__(
        self,
        model: str | os.PathLike[str],
        *,
        gpu_memory_utilization: float = 0.4,
        seed: int = 0,
        dtype: str = "auto",
        **llm_options: Any,
    ) -> None:
        try:
            import vllm
        except ImportError as exc:
            raise ConfigError(
                f"the vllm sampler backend needs vLLM (GPU only): pip install 'azr[vllm]' ({exc})"
            ) from exc
        from azr.models import model_directory

        directory = model_directory(model)
        os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")  # in-process engine: sync by reference
        options: dict[str, Any] = {
            "model": str(directory),
            "gpu_memory_utilization": gpu_memory_utilization,
            "seed": seed,
            "dtype": dtype,
            "logprobs_mode": "processed_logprobs",
            **llm_options,
        }
        try:
            self.llm: Any = vllm.LLM(**options)
        except TypeError as exc:
            if "logprobs_mode" not in str(exc):
                raise
            log.warning(
                "vLLM %s has no logprobs_mode: sampled-token log-probs are raw (temperature 1, no top-p); "
                "upgrade to vLLM >= 0.10.2 for behaviour log-probs",
                getattr(vllm, "__version__", "?"),
            )
            del options["logprobs_mode"]
            self.llm = vllm.LLM(**options)
        self.tokenizer: Any = self.llm.get_tokenizer()
        self.directory: Path = directory
        self.eos_token_ids = _eos_ids(directory, self.tokenizer)

    def generate(self, prompts: Sequence[Prompt], config: GenerationConfig) -> list[list[Sample]]:
        """``config.n`` samples for each prompt, in prompt order."""
        from vllm import SamplingParams

        encoded = [_encode(self.tokenizer, prompt) for prompt in prompts]
        greedy = config.temperature == 0
        per_prompt = 1 if greedy else config.n
        requests: list[dict[str, list[int]]] = []
        params: list[Any] = []
        for i, ids in enumerate(encoded):
            common = {
                "temperature": config.temperature,
                "top_p": 1.0 if greedy else config.top_p,
                "max_tokens": config.max_new_tokens,
                "logprobs": 0,
                "stop_token_ids": self.eos_token_ids,
                "skip_special_tokens": True,
            }
            if config.seed is None or greedy:
                requests.append({"prompt_token_ids": ids})
                params.append(SamplingParams(n=per_prompt, **common))
            else:  # one request per completion, each with its own seed
                for k in range(per_prompt):
                    requests.append({"prompt_token_ids": ids})
                    params.append(
                        SamplingParams(n=1, seed=(config.seed * 1_000_003 + i * per_prompt + k) % _SEED_MOD, **common)
                    )
        outputs = self.llm.generate(requests, params, use_tqdm=False)

        completions: list[list[Any]] = [[] for _ in encoded]
        prompt_of = [
            i for i, _ in enumerate(encoded) for _ in range(1 if config.seed is None or greedy else per_prompt)
        ]
        for index, output in zip(prompt_of, outputs, strict=True):
            completions[index].extend(output.outputs)
        results: list[list[Sample]] = []
        for ids, group in zip(encoded, completions, strict=True):
            samples = [self._sample(ids, completion) for completion in group]
            if greedy:
                samples = [samples[0]] + [_copy(samples[0]) for _ in range(config.n - 1)]
            results.append(samples)
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
        """Copy ``model``'s current weights into the engine (call after each optimizer step)."""
        weights = _hf_weights(model)
        self.llm.collective_rpc(_load_weights, args=(weights,))
        self.llm.reset_prefix_cache()


def _load_weights(worker: Any, weights: list[tuple[str, torch.Tensor]]) -> None:
    """Runs on each vLLM worker (``collective_rpc`` passes the worker first)."""
    worker.model_runner.model.load_weights(weights=weights)


def _hf_weights(model: torch.nn.Module) -> list[tuple[str, torch.Tensor]]:
    """``(name, tensor)`` pairs under Hugging Face checkpoint names; LoRA adapters are merged in."""
    module: Any = getattr(model, "module", model)  # DistributedDataParallel
    merged = hasattr(module, "merge_adapter") and hasattr(module, "unmerge_adapter")
    if merged:
        module.merge_adapter()
    try:
        pairs: list[tuple[str, torch.Tensor]] = []
        for name, tensor in module.state_dict().items():
            if "lora_" in name or "modules_to_save" in name:
                continue
            name = name.removeprefix("_orig_mod.")
            if merged:
                name = name.removeprefix("base_model.model.").replace(".base_layer.", ".")
            pairs.append((name, tensor.detach().clone() if merged else tensor.detach()))
    finally:
        if merged:
            module.unmerge_adapter()
    return pairs


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
