"""Teach the tiny random model the answer format, so end-to-end tests see valid tasks, not only format errors.

About a minute (400 steps, 2 cores) of supervised fine-tuning on prompts built by ``azr.verify.prompts`` with templated answers
(programs ``x + K``, digit inputs). The result is a real model whose samples are mostly well formed and
varied, which is what the trainer's validation, dedup, solve-rate and kill/resume paths need.
"""

from __future__ import annotations

import random
from pathlib import Path

from azr.selfplay.buffer import seed_tasks
from azr.verify.prompts import proposer_messages, solver_messages
from azr.verify.tasks import TaskType, Triple


def _wrap(blocks):
    body = "\n".join(f"```{kind}\n{text}\n```" for kind, text in blocks)
    return f"<think>ok</think>\n<answer>\n{body}\n</answer>"


def _example(rng: random.Random):
    kind = rng.randrange(5)
    k, m = rng.randrange(10), rng.randrange(10)
    program = f"def f(x):\n    return x + {k}"
    if kind == 0:
        # References as the loop shows them: the seed triple at first, then tasks like the ones taught here.
        task_type = rng.choice([TaskType.DEDUCTION, TaskType.ABDUCTION])
        references = [seed_tasks(task_type)[0].triple]
        for _ in range(rng.randrange(3)):
            j, n = rng.randrange(10), rng.randrange(10)
            references.append(Triple(f"def f(x):\n    return x + {j}", str(n), str(j + n)))
        rng.shuffle(references)
        return proposer_messages(task_type, references), _wrap([("python", program), ("input", str(m))])
    if kind == 1:
        inputs = [("input", str(i)) for i in rng.sample(range(10), 4)]
        return proposer_messages(TaskType.INDUCTION, [], program=program, n_inputs=4), _wrap(
            [*inputs, ("message", "adds")]
        )
    if kind == 2:
        return solver_messages("deduction", program=program, input=str(m)), _wrap([("output", str(k + m))])
    if kind == 3:
        return solver_messages("abduction", program=program, output=str(k + m)), _wrap([("input", str(m))])
    return solver_messages("induction", io_pairs=[(str(m), str(m + k))], message="adds"), _wrap([("python", program)])


def teach(model_dir: Path, out_dir: Path, *, steps: int = 400, seed: int = 0) -> Path:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    rng = random.Random(seed)
    torch.manual_seed(seed)
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir)
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    model.train()
    for _ in range(steps):
        batch = []
        for _ in range(8):
            messages, answer = _example(rng)
            prompt = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
            batch.append(
                (
                    tokenizer(prompt, add_special_tokens=False).input_ids,
                    [*tokenizer(answer, add_special_tokens=False).input_ids, tokenizer.eos_token_id],
                )
            )
        width = max(len(p) + len(a) for p, a in batch)
        ids = torch.full((len(batch), width), tokenizer.pad_token_id)
        labels = torch.full((len(batch), width), -100)
        attention = torch.zeros((len(batch), width), dtype=torch.long)
        for row, (p, a) in enumerate(batch):
            ids[row, : len(p) + len(a)] = torch.tensor(p + a)
            attention[row, : len(p) + len(a)] = 1
            labels[row, len(p) : len(p) + len(a)] = torch.tensor(a)
        model(input_ids=ids, attention_mask=attention, labels=labels).loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    model.save_pretrained(out_dir, safe_serialization=True)
    tokenizer.save_pretrained(out_dir)
    return out_dir
