"""A tiny random-init causal LM with a real tokenizer, built locally in seconds: tests and CI without downloads.

:func:`build_tiny_model` writes a Hugging Face model directory (``config.json``, ``model.safetensors``,
``tokenizer.json``, ``tokenizer_config.json`` with a chat template, ``generation_config.json``) that
:func:`azr.models.loading.load_model` loads like any other. The model is a 2-layer Llama with hidden size 64
(by default) and random weights, so its text is gibberish, but every code path a real model takes is
exercised: byte-level BPE tokenization, special tokens (``<|endoftext|>`` pad, ``<|im_end|>`` EOS), chat
rendering, left padding, sampling, log-probs and gradient updates.

The tokenizer is trained with the ``tokenizers`` library on text shipped with azr (the bundled example
programs and the paragraph below), so the result depends only on the seed and the installed library
versions: the same seed gives byte-identical files.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from importlib import resources
from pathlib import Path

__all__ = ["CHAT_TEMPLATE", "EOS_TOKEN", "PAD_TOKEN", "build_tiny_model"]

PAD_TOKEN = "<|endoftext|>"
EOS_TOKEN = "<|im_end|>"
BOS_TOKEN = "<|im_start|>"
_SPECIAL_TOKENS = [PAD_TOKEN, BOS_TOKEN, EOS_TOKEN]

CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)
"""ChatML, as Qwen and SmolLM2 use: ``<|im_start|>{role}\\n{content}<|im_end|>\\n`` per message."""

# Extra training text so that common Python and azr-format fragments become single tokens.
_CORPUS = """\
You are a helpful assistant. Think step by step inside <think> </think>, then give the final answer
inside <answer> </answer> as fenced blocks: ```python for a program, ```input for the arguments of f,
```output for the value f returns, and ```message for a hint about what the program does.
Deduction: given the program and the input, predict the output. Abduction: given the program and the
output, find an input. Induction: given input and output pairs and a message, write the program.
def f(x): return x
def f(xs, k=0):
    if not xs:
        return None
    for i, x in enumerate(xs):
        while x > k and i < len(xs):
            x -= 1
    return [x * 2 for x in xs if x % 2 == 0]
class Node: pass
import math, itertools, collections, json, re, heapq, functools, string, random
from collections import Counter, defaultdict, deque
lambda a, b: a + b - a * b / (a or 1) // 2 ** 3
try: raise ValueError("bad")
except (KeyError, IndexError) as e: print(e)
finally: pass
True False None and or not in is with as yield global nonlocal assert del break continue elif else
{'a': 1, 'b': [1, 2, 3], 'c': (4, 5), 'd': {6, 7}} == != <= >= < > += -= *= /= %= -> ... :=
sorted(set(map(str, range(10))), key=len, reverse=True) zip(*m) sum(min(max(abs(n)))) ''.join(s.split())
0 1 2 3 4 5 6 7 8 9 10 100 -1 3.14 'hello' "world" \\n \\t # comment
"""


def _corpus() -> Iterator[str]:
    """The tokenizer's training text, in a fixed order."""
    yield _CORPUS
    programs = resources.files("azr.examples").joinpath("programs.jsonl").read_text(encoding="utf-8")
    for line in programs.splitlines():
        if line.strip():
            row = json.loads(line)
            yield f"{row['code']}\n{row['input']}\n{row['output']}\n"


def build_tiny_model(
    path: str | Path, *, seed: int = 0, vocab_size: int = 768, hidden_size: int = 64, head_dim: int = 16
) -> Path:
    """Build a random-init tiny causal LM and its BPE tokenizer into directory ``path``; return it.

    Takes a few seconds on one CPU core. ``vocab_size`` is the tokenizer's target size (256 byte tokens,
    3 special tokens and learned merges; it may come out smaller when the training text runs out of
    merges); the model's embedding matches the tokenizer. The same ``seed`` gives identical files.

    ``hidden_size / head_dim`` attention heads (half as many key/value heads) and an MLP twice as wide
    as ``hidden_size``. The defaults (four heads of 16) are what azr's tests use; vLLM's CPU attention
    needs a head size of 32, 64, 80 or more, so vLLM tests build ``head_dim=32`` (two heads of 32).
    """
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import GenerationConfig, LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    from azr.models.loading import quiet_progress

    if not 300 <= vocab_size <= 65536:
        raise ValueError(f"vocab_size must be in [300, 65536], got {vocab_size}")
    if head_dim < 1 or hidden_size % head_dim or (hidden_size // head_dim) % 2:
        raise ValueError(
            f"hidden_size ({hidden_size}) must be an even multiple of head_dim ({head_dim}): "
            "an even number of attention heads shares half as many key/value heads"
        )
    heads = hidden_size // head_dim
    out = Path(path)
    out.mkdir(parents=True, exist_ok=True)

    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=_SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    bpe.train_from_iterator(_corpus(), trainer=trainer)
    tokenizer = PreTrainedTokenizerFast(  # type: ignore[no-untyped-call]
        tokenizer_object=bpe,
        bos_token=BOS_TOKEN,
        eos_token=EOS_TOKEN,
        pad_token=PAD_TOKEN,
        padding_side="left",
        model_max_length=1024,
    )
    tokenizer.chat_template = CHAT_TEMPLATE
    tokenizer.save_pretrained(out)

    ids = {tok: bpe.token_to_id(tok) for tok in _SPECIAL_TOKENS}
    config = LlamaConfig(
        vocab_size=bpe.get_vocab_size(),
        hidden_size=hidden_size,
        intermediate_size=2 * hidden_size,
        num_hidden_layers=2,
        num_attention_heads=heads,
        num_key_value_heads=heads // 2,
        max_position_embeddings=1024,
        tie_word_embeddings=True,
        bos_token_id=ids[BOS_TOKEN],
        eos_token_id=ids[EOS_TOKEN],
        pad_token_id=ids[PAD_TOKEN],
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = LlamaForCausalLM(config)
    model.generation_config = GenerationConfig(  # type: ignore[no-untyped-call]
        bos_token_id=ids[BOS_TOKEN], eos_token_id=ids[EOS_TOKEN], pad_token_id=ids[PAD_TOKEN]
    )
    with quiet_progress():
        model.save_pretrained(out, safe_serialization=True)
    return out
