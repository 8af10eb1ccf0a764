"""``acard recipes``: the recipes a name can resolve to, with each one's parameters.

Built-ins and installed plug-ins (entry-point group ``acceptance_cards.recipes``)
are listed; ``--recipe module:Class`` shows one more. Each parameter is shown
with its type, default, range and help text (the docstrings of the recipe's
typed parameter model), i.e. exactly what ``acard train -p key=value`` accepts.
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console

from .._util.errors import InputError
from .._util.lazy import require

_out = Console(highlight=False, soft_wrap=True)


def recipes_cmd(
    recipe: Annotated[str | None, typer.Option(
        help="Only this recipe (a name or module:Class).")] = None,
) -> None:
    """List the defense recipes and their parameters (``acard train --recipe NAME -p key=value``)."""
    require("torch")
    from ..evidence.training.recipes import describe_params, known_recipes, recipe_class

    for name in [recipe] if recipe else known_recipes():
        try:
            cls = recipe_class(name)
        except InputError as exc:
            if recipe:
                raise
            _out.print(f"[bold]{name}[/bold]  [red]unusable:[/red] {exc.message}")
            continue
        claim = cls.claimed_class + (f" (permissive: {cls.permissive_class})"
                                     if cls.permissive_class else "")
        doc = (cls.__doc__ or "").strip().splitlines()
        _out.print(f"[bold]{name}[/bold]  claims {claim}  ({cls.__module__}:{cls.__qualname__})")
        if doc:
            _out.print(f"  {doc[0]}")
        params = describe_params(cls)
        if not params:
            _out.print("  no parameters\n")
            continue
        for p in params:
            rng = f"  ({p.range})" if p.range else ""
            _out.print(f"  -p {p.name}=…  {p.type}, default {p.default!r}{rng}", markup=False)
            _out.print(f"      {p.help}", markup=False)
        _out.print()


def register(app: typer.Typer) -> None:
    """Attach ``recipes`` to ``app``."""
    app.command("recipes")(recipes_cmd)
