"""Use azr's sandboxed verifier as the reward in other RL pipelines.

- :mod:`azr.integrations.trl`: reward functions with TRL's ``reward_funcs`` signature (GRPOTrainer);
- :mod:`azr.integrations.verl`: ``compute_score`` for veRL's ``custom_reward_function``.

Neither module imports TRL or veRL: they only follow those libraries' calling conventions, so they
work (and are tested) with azr's core install. :mod:`azr.verify.scoring` is the plain-Python API beneath.
"""
