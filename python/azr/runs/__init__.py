"""A training run on disk and on screen: the run directory with its checkpoints and resume
(:mod:`~azr.runs.directory`), metrics sinks (:mod:`~azr.runs.reporting`) and the terminal progress display
(:mod:`~azr.runs.progress`, torch-free: ``azr eval`` uses it too).
"""
