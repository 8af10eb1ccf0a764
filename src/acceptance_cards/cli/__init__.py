"""`acard`: a thin command-line layer over the library API.

Each command group lives in its own module with a ``register(app)`` function;
command bodies import heavy layers (torch, transformers) only when they run, so
``acard --help`` and the card commands work without the [models] extra.
"""

from __future__ import annotations

import errno
import sys
from typing import NoReturn

import typer

try:  # typer >= 0.26 vendors click; older typer uses the click package
    from typer._click import exceptions as _cx
except ImportError:  # pragma: no cover - depends on the installed typer
    from click import exceptions as _cx  # type: ignore[no-redef]
from rich.console import Console

from .._util.errors import InputError, MissingExtraError

app = typer.Typer(
    name="acard",
    help="Acceptance Cards: decide whether the evidence behind a safe fine-tuning "
    "defense claim passes the four-diagnostic standard.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

_err = Console(stderr=True, highlight=False, soft_wrap=True)


def _register_all() -> None:
    from . import card_cmds, check_cmds

    card_cmds.register(app)
    check_cmds.register(app)
    for name in ("eval_cmds", "train_cmds", "recipe_cmds", "import_cmds", "audit_cmds",
                 "results_cmds"):
        try:
            module = __import__(f"{__name__}.{name}", fromlist=["register"])
        except ModuleNotFoundError as exc:
            if exc.name != f"{__name__}.{name}":
                raise
            continue
        module.register(app)


_register_all()


#: OS errors about a path the user named: reported in one line, exit 2 (others keep their traceback).
_USER_OS_ERRNOS = frozenset({
    errno.ENOENT, errno.EISDIR, errno.ENOTDIR, errno.ELOOP, errno.EACCES, errno.EPERM,
    errno.ENAMETOOLONG, errno.EROFS, errno.ENOSPC, errno.EEXIST,
})


def _fail(message: str, code: int = 2) -> NoReturn:
    _err.print(f"acard: error: {message}", markup=False)
    sys.exit(code)


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``acard`` console script: the one place errors become exit codes.

    Bad input (:class:`InputError`), a bad option (click's usage errors), an OS
    error about a path the user named, and a missing extra print one line on
    stderr and exit 2; nothing else is caught, so real bugs keep their traceback.

    Example:
        >>> main(["validate", "no-such.jsonl"])              # doctest: +SKIP
        acard: error: no-such.jsonl: no such file
    """
    try:
        rv = app(args=argv, prog_name="acard", standalone_mode=False)
    except (InputError, MissingExtraError) as exc:
        _fail(str(exc).replace("\n", " "))
    except _cx.ClickException as exc:
        if type(exc).__name__ == "NoArgsIsHelpError":
            exc.show()  # the group's help, as a bare `acard` has always printed
            sys.exit(exc.exit_code)
        hint = ""
        if isinstance(exc, _cx.UsageError) and exc.ctx is not None:
            hint = f" (see `{exc.ctx.command_path} --help`)"
        _fail(exc.format_message().replace("\n", " ") + hint, exc.exit_code)
    except typer.Abort:
        _fail("aborted", 1)
    except OSError as exc:
        if exc.errno not in _USER_OS_ERRNOS or exc.filename is None:
            raise
        _fail(f"{exc.filename}: {exc.strerror}")
    sys.exit(rv if isinstance(rv, int) else 0)
