"""``azr sandbox build|check``: build the WebAssembly guest, or verify and exercise the one in use."""

from __future__ import annotations

import argparse
from typing import Any

from azr import _core
from azr.sandbox import Job, Sandbox

__all__ = ["register", "run"]


def register(sub: Any) -> None:
    sandbox = sub.add_parser(
        "sandbox",
        help="build or check the WebAssembly guest",
        description="build: (re)build the CPython guest component into the cache with componentize-py (offline, "
        "~15 s). check: verify the guest's checksum and run a program in it.",
    )
    sandbox.add_argument("action", choices=["build", "check"], help="build the guest, or check the one in use")
    sandbox.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Build the guest, or check the one in use."""
    if args.action == "build":
        path = _core.build_guest()
        print(f"built {path} (sha256 {_core.verify_guest(path)})")
        return 0
    path = _core.locate_guest()
    digest = _core.verify_guest(path)
    sandbox = Sandbox(workers=1)
    result = sandbox.run(Job("def f(x):\n    return x[::-1]", "f([1, 2, 3])"))
    ok = result.ok and result.value_repr == "[3, 2, 1]"
    print(f"guest   {path}\nsha256  {digest}\nruns    {'ok' if ok else result}")
    return 0 if ok else 1
