"""`acard`: a thin command-line layer over the library API.

Each command group lives in its own module with a ``register(app)`` function;
command bodies import heavy layers (torch, transformers) only when they run, so
``acard --help`` and the card commands work without the [models] extra.
"""

from __future__ import annotations

import sys

import typer
from rich.console import Console

from ..errors import InputError, MissingExtraError

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
    for name in ("eval_cmds", "train_cmds", "import_cmds", "audit_cmds"):
        try:
            module = __import__(f"{__name__}.{name}", fromlist=["register"])
        except ModuleNotFoundError as exc:
            if exc.name != f"{__name__}.{name}":
                raise
            continue
        module.register(app)


_register_all()


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``acard`` console script.

    Bad input (:class:`InputError`) and missing extras print one line on stderr
    and exit 2; nothing else is caught, so real bugs keep their traceback.
    """
    try:
        app(args=argv, prog_name="acard")
    except (InputError, MissingExtraError) as exc:
        _err.print(f"acard: error: {exc}", markup=False)
        sys.exit(2)
    except FileNotFoundError as exc:
        _err.print(f"acard: error: {exc.filename}: no such file", markup=False)
        sys.exit(2)
