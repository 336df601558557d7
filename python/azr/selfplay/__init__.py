"""The self-play wing (the ``train`` extra): the trainer and the step's phases, the task buffers, the
policy update and its losses, context-window checks and the run configuration. It uses the verifier
wing (:mod:`azr.verify`) for every verdict and reward, and :mod:`azr.models` / :mod:`azr.sampling` for the
model; importing this package itself loads nothing heavy.
"""
