"""Guest harness: runs inside the WebAssembly CPython built by componentize-py.

Module-level code runs once, at build time, and is captured in the component's
memory snapshot: every instance starts from that state, so nothing a program does
survives into the next instance. Within one instance (`run_many`), builtins and
sys.modules are restored between expressions.
"""

# The guest has no filesystem at run time, so a program can import exactly the modules imported
# here, at build time, into the snapshot (anything else is ModuleNotFoundError). This is the
# stdlib that model-written puzzle code uses; system-facing modules stay out by construction.
import abc  # noqa: F401
import array  # noqa: F401
import base64  # noqa: F401
import binascii
import bisect  # noqa: F401
import builtins
import calendar  # noqa: F401
import cmath  # noqa: F401
import collections
import collections.abc  # noqa: F401
import contextlib  # noqa: F401
import copy  # noqa: F401
import csv  # noqa: F401
import dataclasses  # noqa: F401
import datetime  # noqa: F401
import decimal  # noqa: F401
import difflib  # noqa: F401
import enum  # noqa: F401
import fnmatch  # noqa: F401
import fractions  # noqa: F401
import functools  # noqa: F401
import graphlib  # noqa: F401
import hashlib
import heapq  # noqa: F401
import html  # noqa: F401
import itertools  # noqa: F401
import json  # noqa: F401
import keyword  # noqa: F401
import math  # noqa: F401
import numbers  # noqa: F401
import operator
import pprint  # noqa: F401
import random
import re
import secrets  # noqa: F401
import statistics  # noqa: F401
import string  # noqa: F401
import struct  # noqa: F401
import sys
import textwrap  # noqa: F401
import time  # noqa: F401
import types  # noqa: F401
import typing  # noqa: F401
import unicodedata  # noqa: F401
import weakref  # noqa: F401
import zlib

import wit_world
from wit_world import Outcome, Status, begin, report


def _preload_codecs():
    """Text codecs are looked up by importing `encodings.<name>`: import them all now."""
    import encodings
    import importlib
    import pkgutil

    for info in pkgutil.iter_modules(encodings.__path__):
        try:
            importlib.import_module("encodings." + info.name)
        except Exception:  # codecs whose C half is not in this build
            pass


_preload_codecs()

MAX_ERROR_CHARS = 2000

# The harness must keep working after a program rebinds builtins (even `len` or `TypeError`), so it
# reaches every builtin through these module-level names, bound at build time.
_BaseException = BaseException
_MemoryError = MemoryError
_SyntaxError = SyntaxError
_SystemExit = SystemExit
_TypeError = TypeError
_bool = bool
_compile = compile
_eval = eval
_exec = exec
_int = int
_isinstance = isinstance
_len = len
_repr = repr
_str = str
_type = type
_all = all
_map = map
_sorted = sorted
_is = operator.is_


class _OutputLimit(_BaseException):
    """Raised by the capped writer; a BaseException so `except Exception` cannot swallow it."""


class _CappedWriter:
    """A text sink that refuses to grow past a byte budget shared with the result repr."""

    def __init__(self, budget):
        self.parts = []
        self.size = 0
        self.budget = budget
        self.overflowed = False

    def write(self, text):
        if not _isinstance(text, _str):
            raise _TypeError("write() argument must be str")
        size = _len(text.encode("utf-8", "surrogatepass"))
        if self.size + size > self.budget:
            self.overflowed = True
            raise _OutputLimit()
        self.parts.append(text)
        self.size += size
        return _len(text)

    def flush(self):
        pass

    def isatty(self):
        return False

    def getvalue(self):
        return "".join(self.parts)


class _Discard:
    def write(self, text):
        return 0

    def flush(self):
        pass


def _text(obj):
    try:
        text = _str(obj)
        if not _isinstance(text, _str):
            text = "<unprintable>"
    except _BaseException:  # a hostile __str__ must not break the harness
        text = "<unprintable>"
    return text[:MAX_ERROR_CHARS]


def _type_name(exc):
    try:
        return _text(_type(exc).__name__)
    except _BaseException:
        return "<unknown>"


# Text crosses to the host as UTF-8, which has no form for lone surrogates (a program can print
# '\udcff', or raise with it in a message): they become U+FFFD, the same 3 bytes the cap counted.
_sub_surrogates = re.compile("[\ud800-\udfff]").sub
_isascii = _str.isascii


def _clean(text):
    if text is None or _isascii(text):
        return text
    return _sub_surrogates("\ufffd", text)


def _outcome(status, stdout, value=None, etype=None, emsg=None, code=0):
    return Outcome(status, _clean(value), _clean(stdout), _clean(etype), _clean(emsg), code)


def _exit_code(exc):
    code = exc.code
    if code is None:
        return 0
    if _isinstance(code, _int) and not _isinstance(code, _bool) and -(2**31) <= code < 2**31:
        return _int(code)
    return 1


def _classify(error, sink):
    """The outcome of a program that raised `error` (uses only names bound at build time)."""
    stdout = sink.getvalue()
    if sink.overflowed or _isinstance(error, _OutputLimit):
        return _outcome(Status.OUTPUT_LIMIT, stdout, etype="OutputLimit", emsg="output limit exceeded")
    if _isinstance(error, _SyntaxError):
        return _outcome(Status.SYNTAX_ERROR, stdout, etype=_type_name(error), emsg=_text(error))
    if _isinstance(error, _SystemExit):
        return _outcome(Status.EXITED, stdout, etype="SystemExit", emsg=_text(error), code=_exit_code(error))
    if _isinstance(error, _MemoryError):
        return _outcome(Status.MEMORY, stdout, etype="MemoryError", emsg=_text(error))
    return _outcome(Status.EXCEPTION, stdout, etype=_type_name(error), emsg=_text(error))


# An expression that starts with this marker is evaluated *salted*: before the program runs for it,
# every function whose value a solver cannot work out by reading a program is replaced, wherever a
# program reaches it from (the static checks only see names), by one that records being called:
# checksums, digests (the C modules' too), compression, and seeding or setting a generator's state;
# `hash`, `id` and `dir` record only calls from the program's own code (the standard library uses them
# innocently: `copy.deepcopy` keys its memo by `id`, `Fraction.__hash__` calls `hash`). The reported
# value is then `(value, [names of the functions called])`. Module attributes stay salted for the rest
# of the instance: a salted expression belongs last. Model text cannot start an expression (azr writes
# each as `f(<input>)`), so only the host asks for it (`TaskValidator`). The wrappers are made here, at
# build time, so salting costs a few assignments per expression.
SALTED = "\0azr:salted\0"
# An expression that starts with this marker runs its program while holding objects of many sizes and
# kinds, allocated first, so every later allocation lands at another address than in an unshifted run:
# outputs that expose memory addresses (a default `repr`) differ, as they would between two CPython
# processes (`TaskValidator`'s replays).
SHIFTED = "\0azr:shifted\0"
_object = object
_bytearray = bytearray
_tuple = tuple
_getframe = sys._getframe
_PROGRAM = "<program>"


def _heap_ballast():
    return [
        [_object() for _ in range(29)],
        [[] for _ in range(11)],
        [{} for _ in range(7)],
        [_bytearray(n) for n in range(1, 700, 37)],
        [_str(i) for i in range(31)],
        [_tuple(range(n)) for n in range(1, 70)],  # every small size class
        [(lambda n=n: n) for n in range(5)],  # function objects
    ]


_SALTED_CALLS = set()


def _recording(name, function):
    def wrapper(*args, **kwargs):
        _SALTED_CALLS.add(name)
        return function(*args, **kwargs)

    return wrapper


def _recording_from_program(name, function):
    def wrapper(*args, **kwargs):
        if _getframe(1).f_code.co_filename == _PROGRAM:
            _SALTED_CALLS.add(name)
        return function(*args, **kwargs)

    return wrapper


_unsalted_seed = random.Random.seed
_unsalted_setstate = random.Random.setstate


def _salted_seed(self, a=None, version=2):
    if a is not None:
        _SALTED_CALLS.add("random.seed")
    return _unsalted_seed(self, a, version)


def _salted_setstate(self, state):
    _SALTED_CALLS.add("random.setstate")
    return _unsalted_setstate(self, state)


def _public_functions(module):
    names = [name for name in _sorted(vars(module)) if not name.startswith("_")]
    return [(module, name) for name in names if callable(getattr(module, name))]


_SALTED_ATTRIBUTES = [
    *[(builtins, name, _recording_from_program(name, getattr(builtins, name))) for name in ("hash", "id", "dir")],
    *[
        (module, name, _recording(module.__name__ + "." + name, getattr(module, name)))
        for module, name in (
            (zlib, "crc32"),
            (zlib, "adler32"),
            (zlib, "compress"),
            (zlib, "compressobj"),
            (binascii, "crc32"),
            (binascii, "crc_hqx"),
            *[(hashlib, name) for name in [*sorted(hashlib.algorithms_available), "new", "pbkdf2_hmac", "file_digest"]],
            *[
                pair
                for module_name in ("_md5", "_sha1", "_sha2", "_sha3", "_blake2", "_hmac")
                if module_name in sys.modules
                for pair in _public_functions(sys.modules[module_name])
            ],
        )
        if hasattr(module, name)
    ],
    (random.Random, "seed", _salted_seed),
    (random.Random, "setstate", _salted_setstate),
]
_setattr = setattr


def _salt_opaque():
    _SALTED_CALLS.clear()
    for owner, name, wrapper in _SALTED_ATTRIBUTES:
        _setattr(owner, name, wrapper)
    random.seed = random._inst.seed  # the module's bound methods, rebound to the salted ones
    random.setstate = random._inst.setstate
    return _SALTED_CALLS


def _evaluate(code, expr, max_output, restore, salted=False, shifted=False):
    """Run `code` in a fresh namespace, then evaluate `expr` there.

    With `salted`, opaque functions are salted first and the value reported is
    `(value, names of the salted functions called)`; see `SALTED`. With `shifted`, the heap is shifted
    first; see `SHIFTED`.

    With `restore`, builtins and sys.modules are put back afterwards, for the next expression in
    this instance. After the last expression they are left as the program left them: the instance
    is discarded or reset to its snapshot by the host, and reporting touches neither (it uses only
    names this module bound at build time). Skipping it saves iterating ~500 module and builtin
    objects, whose refcount writes alone dirtied about half of the pages a job writes.
    """
    sink = _CappedWriter(max_output)
    saved = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = sink, _Discard()
    error = None
    text = ""
    try:
        called = _salt_opaque() if salted else None
        ballast = _heap_ballast() if shifted else None  # noqa: F841 (held while the program runs)
        namespace = {"__name__": "__main__", "__builtins__": builtins}
        _exec(code, namespace)
        value = _eval(_compile(expr, "<expr>", "eval"), namespace)
        if called is not None:
            value = (value, _sorted(called))
        text = _repr(value)
        if not _isinstance(text, _str):
            raise _TypeError("__repr__ returned non-string")
    except _BaseException as exc:
        error = exc
    finally:
        sys.stdout, sys.stderr = saved
        if restore:
            # Before the next expression: undo rebound builtins and replaced modules.
            _restore(builtins.__dict__, _PRISTINE_BUILTINS)
            _restore(sys.modules, _PRISTINE_MODULES)
    if error is not None:
        return _classify(error, sink)
    if sink.overflowed or sink.size + _len(text.encode("utf-8", "surrogatepass")) > max_output:
        return _outcome(Status.OUTPUT_LIMIT, sink.getvalue(), etype="OutputLimit", emsg="output limit exceeded")
    return _outcome(Status.OK, sink.getvalue(), value=text)


class WitWorld(wit_world.WitWorld):
    def run(self, program, exprs, max_output_bytes):
        # `random` was seeded when the snapshot was taken; reseed from the host's per-job RNG.
        random.seed()
        if not exprs:
            return
        # The first expression's deadline covers compiling the program (a compile bomb is its time).
        begin(0)
        try:
            code = _compile(program, "<program>", "exec")
        except _BaseException as exc:  # SyntaxError, ValueError (null bytes), RecursionError, MemoryError
            status = Status.MEMORY if _isinstance(exc, _MemoryError) else Status.SYNTAX_ERROR
            for index in range(_len(exprs)):
                if index:
                    begin(index)
                report(_outcome(status, "", etype=_type_name(exc), emsg=_text(exc)))
            return
        last = _len(exprs) - 1
        for index in range(_len(exprs)):
            if index:
                begin(index)
            expr = exprs[index]
            salted = expr.startswith(SALTED)
            if salted:
                expr = expr[_len(SALTED) :]
            shifted = expr.startswith(SHIFTED)
            if shifted:
                expr = expr[_len(SHIFTED) :]
            report(_evaluate(code, expr, max_output_bytes, index < last, salted, shifted))


def _restore(current: dict, pristine: dict) -> None:
    """Put a dict back to its snapshot contents (by identity of keys and values)."""
    # Fast path in C: same size, and the same objects in the same order (no user __eq__ runs).
    if (
        _len(current) == _len(pristine)
        and _all(_map(_is, current, pristine))
        and _all(_map(_is, current.values(), pristine.values()))
    ):
        return
    for key in [k for k in current if k not in pristine]:
        del current[key]
    for key, value in pristine.items():
        if current.get(key, _MISSING) is not value:
            current[key] = value


_MISSING = object()


_PRISTINE_BUILTINS = dict(builtins.__dict__)
_PRISTINE_MODULES = dict(sys.modules)

# Everything allocated so far belongs to the snapshot. Freezing it keeps the
# collector from walking (and so dirtying) those pages in every instance, which
# is what the host pays to reset after each run.
import gc  # noqa: E402

gc.collect()
gc.freeze()
