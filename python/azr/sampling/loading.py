"""``load_sampler``: a model spec and a backend name in, a ready :class:`~azr.sampling.base.Sampler` out.

Its own module, so that importing the torch-free interface (:mod:`azr.sampling.base`) never reaches
the model loaders (:mod:`azr.models.loading`) this needs.
"""

from __future__ import annotations

from typing import Any, Literal

from azr.sampling.base import Sampler
from azr.sampling.hf import TransformersSampler

__all__ = ["load_sampler"]


def load_sampler(spec: str, *, backend: Literal["transformers", "vllm"] = "transformers", **options: Any) -> Sampler:
    """A sampler for model ``spec`` (a model directory, ``.gguf`` file or embedded name; see :mod:`azr.models`).

    ``options`` go to the backend: for ``"transformers"``, :func:`azr.models.loading.load_model`'s ``dtype``,
    ``device`` and ``trust_remote_code`` plus :class:`TransformersSampler`'s ``batch_size`` and
    ``progress``; for ``"vllm"``, :class:`~azr.sampling.vllm.VLLMSampler`'s keyword arguments.
    """
    if backend == "transformers":
        from azr.models.loading import load_model

        load_keys = {"dtype", "device", "trust_remote_code"}
        model, tokenizer = load_model(spec, **{k: v for k, v in options.items() if k in load_keys})
        sampler_options = {k: v for k, v in options.items() if k not in load_keys}
        return TransformersSampler(model, tokenizer, **sampler_options)
    if backend == "vllm":
        from azr.sampling.vllm import VLLMSampler

        return VLLMSampler(spec, **options)
    raise ValueError(f"unknown sampler backend {backend!r}; choose 'transformers' or 'vllm'")
