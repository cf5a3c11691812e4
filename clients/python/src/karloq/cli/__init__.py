"""The ``karloq`` command line. :func:`main` runs it: every failure becomes one line on stderr and an exit code
(:class:`ExitCode`), never a traceback."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from enum import IntEnum

import typer

from karloq.errors import (
    ApiError,
    BatchWaitTimeoutError,
    ConnectionFailedError,
    JobFailedError,
    KarloqError,
    ServerError,
    WaitTimeoutError,
)

#: click's exception classes, from wherever typer takes click (recent typer carries its own copy).
UsageError: type[Exception] = typer.BadParameter.__bases__[0]
CommandLineError: type[Exception] = UsageError.__bases__[0]


class ExitCode(IntEnum):
    OK = 0
    JOB_FAILED = 1
    USAGE = 2
    REFUSED = 3
    UNREACHABLE = 4
    TIMED_OUT = 5


def _failure(exc: BaseException) -> tuple[ExitCode, str]:
    """The exit code and the one line for an exception that ended a command."""
    if isinstance(exc, CommandLineError):
        context = getattr(exc, "ctx", None)
        message = str(getattr(exc, "format_message", exc.__str__)()).replace("\n", " ").strip()
        hint = f" (see {context.command_path} --help)" if context is not None and message else ""
        return ExitCode.USAGE, message + hint
    if isinstance(exc, ServerError | ConnectionFailedError):
        return ExitCode.UNREACHABLE, f"service unavailable: {exc}"
    if isinstance(exc, ApiError):
        return ExitCode.REFUSED, f"refused: {exc}"
    if isinstance(exc, JobFailedError):
        return ExitCode.JOB_FAILED, str(exc)
    if isinstance(exc, WaitTimeoutError | BatchWaitTimeoutError):
        return ExitCode.TIMED_OUT, str(exc)
    if isinstance(exc, KarloqError):
        return ExitCode.REFUSED, str(exc)
    if isinstance(exc, OSError):
        return ExitCode.USAGE, f"{exc.strerror or exc}: {exc.filename}" if exc.filename else str(exc)
    raise exc


#: Options of ``karloq`` itself, accepted anywhere on the line (``karloq jobs list --json``).
GLOBAL_FLAGS = ("--json",)
GLOBAL_OPTIONS = ("--api-url", "--api-key")


def hoist_global_options(args: Sequence[str]) -> list[str]:
    """``args`` with the global options moved in front of the command, where the parser expects them."""
    front: list[str] = []
    rest: list[str] = []
    items = iter(args)
    for arg in items:
        if arg == "--":
            rest += [arg, *items]
            break
        if arg in GLOBAL_FLAGS or (arg.split("=", 1)[0] in GLOBAL_OPTIONS and "=" in arg):
            front.append(arg)
        elif arg in GLOBAL_OPTIONS:
            front += [arg, *[value for value in [next(items, None)] if value is not None]]
        else:
            rest.append(arg)
    return front + rest


def main(argv: Sequence[str] | None = None) -> None:
    """Run ``karloq`` with ``argv`` (default: the process's arguments) and exit with its code."""
    from karloq.cli.app import app

    command = typer.main.get_command(app)
    try:
        result = command.main(
            args=hoist_global_options(sys.argv[1:] if argv is None else argv), prog_name="karloq", standalone_mode=False
        )
    except typer.Abort:
        sys.exit(130)
    except (CommandLineError, KarloqError, OSError) as exc:
        code, line = _failure(exc)
        if line.strip():
            print(f"karloq: {line}", file=sys.stderr)
        sys.exit(code)
    sys.exit(result if isinstance(result, int) else ExitCode.OK)
