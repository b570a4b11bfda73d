"""The command group both CLIs are built on: a usage error is one line on stderr, like every other error.

Typer's own rendering (usage line, a "Try --help" line, a boxed message) spreads one problem over five lines
and a box that a log or a pipe mangles; SPEC section 2 asks for one readable line per problem.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import typer
from typer.core import TyperGroup

# Typer names only BadParameter among click's usage errors, and now vendors click under a private module;
# BadParameter's base class is the one every usage error shares (unknown or missing option, missing command).
_UsageError: type[Exception] = typer.BadParameter.__bases__[0]


def usage_line(e: Exception) -> str:
    """`PROG SUBCOMMAND: what is wrong (see --help)`, the message of a usage error on one line."""
    message = " ".join(getattr(e, "format_message", e.__str__)().split()).rstrip(".")
    message = message[:1].lower() + message[1:]
    ctx = getattr(e, "ctx", None)
    where = f"{ctx.command_path}: " if ctx is not None else ""
    return f"{where}{message} (see --help)"


@contextmanager
def _one_line_usage_errors() -> Iterator[None]:
    try:
        yield
    except _UsageError as e:
        # no arguments at all: typer printed the help as it raised this; it needs no error line under it
        if type(e).__name__ == "NoArgsIsHelpError":
            raise
        sys.stderr.write(f"error: {usage_line(e)}\n")
        raise typer.Exit(getattr(e, "exit_code", 2)) from None


class OneLineGroup(TyperGroup):
    """The root group (`typer.Typer(cls=OneLineGroup)`): it parses the root's options and, in `invoke`,
    every subcommand's, so both places turn a usage error into one line and its exit code (2)."""

    # the context types are typer's vendored click's, which it asks applications not to import
    def make_context(self, info_name: str | None, args: list[str], parent: Any = None, **extra: Any) -> Any:
        with _one_line_usage_errors():
            return super().make_context(info_name, args, parent, **extra)

    def invoke(self, ctx: Any) -> Any:
        with _one_line_usage_errors():
            return super().invoke(ctx)
