"""The verifier wing: everything that turns model text into a verdict or a reward, without torch.

``pip install azr`` installs this wing alone (with :mod:`azr.sandbox` under it): the task triples
(:mod:`~azr.verify.tasks`), the data rules for answers (:mod:`~azr.verify.values`), reading replies
(:mod:`~azr.verify.parsing`), grading by execution (:mod:`~azr.verify.grading`), what differs per task type
(:mod:`~azr.verify.tasktypes`, with its prompts in :mod:`~azr.verify.prompts`), whole-reply scoring for other
pipelines (:mod:`~azr.verify.scoring`) and the self-play rewards (:mod:`~azr.verify.rewards`). Nothing here
imports torch or transformers (``tests/test_layout.py`` fails if it does); the training wing
(:mod:`azr.selfplay`, :mod:`azr.models`, :mod:`azr.runs`) builds on it, never the other way round.
"""
