"""azr: Absolute Zero self-play reasoning with a Wasmtime sandbox for every reward."""

import os as _os
import sysconfig as _sysconfig

from azr import _core

# The guest is built once by componentize-py (a dependency). Point the core at the copy installed
# beside this interpreter, so it is found even when the environment's bin/ is not on PATH.
_tool = _os.path.join(_sysconfig.get_path("scripts"), "componentize-py")
if "AZR_COMPONENTIZE_PY" not in _os.environ and _os.path.isfile(_tool):
    _os.environ["AZR_COMPONENTIZE_PY"] = _tool

from azr.exceptions import AzrError, ConfigError, GuestModuleError, SandboxError  # noqa: E402
from azr.sandbox import ExecResult, Job, Sandbox, Status  # noqa: E402

__version__: str = _core.__version__

__all__ = [
    "AzrError",
    "ConfigError",
    "ExecResult",
    "GuestModuleError",
    "Job",
    "Sandbox",
    "SandboxError",
    "Status",
    "__version__",
]
