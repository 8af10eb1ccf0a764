"""The Jinja2 environment the renderers share: one loader, strict undefined, an escaper.

Every ``{{ ... }}`` in a template passes through the format's escaper, so user
text (titles, notes, paths, cell names) can never inject markup; template
literals are the only raw markup. HTML uses Jinja2's autoescaping; Markdown and
LaTeX pass their escaper as ``finalize``.

Example:
    >>> env = environment(finalize=str.upper)
    >>> env.from_string("a{{ x }}").render(x="b")
    'aB'
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import jinja2

from .palette import install as install_palette

#: Folder of the ``card.*.j2`` templates (shipped as package data).
TEMPLATE_DIR = Path(__file__).parent / "templates"


def upper_first(value: object) -> str:
    """Upper-case the first character only (Jinja's ``capitalize`` lower-cases the rest,
    which would turn ``Δdeploy`` into ``δdeploy``)."""
    text = str(value)
    return text[:1].upper() + text[1:]


def environment(*, finalize: Callable[[object], str] | None = None,
                autoescape: bool = False) -> jinja2.Environment:
    """A Jinja2 environment over :data:`TEMPLATE_DIR`."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATE_DIR),
        undefined=jinja2.StrictUndefined,
        autoescape=autoescape,
        finalize=finalize,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["upper_first"] = upper_first
    return install_palette(env)


__all__ = ["TEMPLATE_DIR", "environment", "upper_first"]
