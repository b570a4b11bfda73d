"""The command group both CLIs are built on: a usage error is one line on stderr, like every other error, and
help texts are shown as written.

Typer's own rendering (usage line, a "Try --help" line, a boxed message) spreads one problem over five lines
and a box that a log or a pipe mangles; SPEC section 2 asks for one readable line per problem.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import typer
from rich.markup import escape
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


def _literal_help(command: Any) -> None:
    """Our help texts are plain text: typer renders them as rich markup, which took the TOML tables in
    `[[receiver]] id, x, y` for a tag and printed `[] id, x, y`."""
    for obj in (command, *command.params):
        for attr in ("help", "short_help", "epilog"):
            if isinstance(text := getattr(obj, attr, None), str):
                setattr(obj, attr, escape(text))
    for sub in getattr(command, "commands", {}).values():
        _literal_help(sub)


class OneLineGroup(TyperGroup):
    """The root group (`typer.Typer(cls=OneLineGroup)`): it parses the root's options and, in `invoke`,
    every subcommand's, so both places turn a usage error into one line and its exit code (2). Typer builds
    the whole tree before its root, so the root also makes every help text in it literal."""

    def __init__(self, **attrs: Any) -> None:
        super().__init__(**attrs)
        _literal_help(self)

    # the context types are typer's vendored click's, which it asks applications not to import
    def make_context(self, info_name: str | None, args: list[str], parent: Any = None, **extra: Any) -> Any:
        with _one_line_usage_errors():
            return super().make_context(info_name, args, parent, **extra)

    def invoke(self, ctx: Any) -> Any:
        with _one_line_usage_errors():
            return super().invoke(ctx)
