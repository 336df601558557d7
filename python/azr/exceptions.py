"""The exceptions azr raises. Failing *programs* never raise: they are results with a status.

Only host problems raise, all as subclasses of :class:`AzrError`:

- :class:`SandboxError`: the wasmtime engine could not be set up or used.
- :class:`GuestModuleError`: the guest component (CPython compiled to WebAssembly) is missing,
  corrupt, or could not be built.
- :class:`ConfigError`: a configuration value is invalid; the message says which and how to fix it.

A guest path that does not exist raises the builtin :class:`FileNotFoundError`.
"""

from azr._core import AzrError, ConfigError, GuestModuleError, SandboxError

__all__ = ["AzrError", "ConfigError", "GuestModuleError", "SandboxError"]
