"""Where each record field comes from in a foreign log: the ``--map field=expr`` language.

An importer turns each sample of a log into a plain nested mapping (its *view*;
see :mod:`.inspect_logs` and :mod:`.lm_eval_samples` for what each view holds)
and a :class:`FieldMapping` says, per record field, which expressions to try on
it: the first one that gives a value wins. Users replace a field's defaults with
``--map field=expr`` on the command line or a TOML file::

    # mapping.toml — either a [map] table or top-level keys
    [map]
    question_id = "metadata.qid"
    framing = "metadata.condition | map{test=eval, chat=deploy}"
    template_id = ["metadata.template", "id | re/::(.+)$/"]   # candidates, in order

The expression language itself (``source | filter …``: paths, literals, ``re``,
``map``, ``lower`` … ``nonempty``) is :mod:`.expr`.

Example:
    >>> m = FieldMapping().with_overrides(parse_map_options(["framing=metadata.cond | map{test=eval}"]))
    >>> m.resolve({"metadata": {"cond": "test"}})["framing"]
    'eval'
    >>> parse_expr("id | re/::(.+)$/").evaluate({"id": "q1::eval-h01"})
    'eval-h01'
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from .._util.errors import InputError
from .._util.files import read_toml_object
from .expr import MISSING as MISSING  # re-exported: importers and the CLI read it here
from .expr import Expr as Expr
from .expr import Filter as Filter
from .expr import parse_expr as parse_expr


@dataclass(frozen=True)
class FieldMapping:
    """Per record field, the expressions to try in order (first value wins).

    Example:
        >>> m = FieldMapping({"question_id": (parse_expr("metadata.qid"), parse_expr("id"))})
        >>> m.resolve({"id": 7})["question_id"]
        7
    """

    fields: Mapping[str, tuple[Expr, ...]] = field(default_factory=dict)

    def with_overrides(self, overrides: Mapping[str, Expr | Sequence[Expr]]) -> FieldMapping:
        """A copy where each named field uses only the given expression(s)."""
        new = dict(self.fields)
        for name, e in overrides.items():
            new[name] = (e,) if isinstance(e, Expr) else tuple(e)
        return FieldMapping(new)

    def resolve(self, view: Mapping[str, Any]) -> dict[str, Any]:
        """Each field's value on ``view``; a field with no value maps to :data:`MISSING`."""
        return {name: value for name, (value, _) in self.resolve_sources(view).items()}

    def resolve_sources(self, view: Mapping[str, Any]) -> dict[str, tuple[Any, Expr | None]]:
        """Each field's value and the expression that gave it (``None`` when none did).

        Example:
            >>> m = FieldMapping({"framing": exprs("metadata.framing", "eval.task_args.framing")})
            >>> value, e = m.resolve_sources({"eval": {"task_args": {"framing": "eval"}}})["framing"]
            >>> value, e.text
            ('eval', 'eval.task_args.framing')
        """
        out: dict[str, tuple[Any, Expr | None]] = {}
        for name, candidates in self.fields.items():
            got: tuple[Any, Expr | None] = (MISSING, None)
            for e in candidates:
                value = e.evaluate(view)
                if value is not MISSING and value != "":
                    got = (value, e)
                    break
            out[name] = got
        return out

    def describe(self, name: str) -> str:
        """The candidate expressions of one field, for error messages."""
        cands = self.fields.get(name, ())
        return " or ".join(f"`{e.text}`" for e in cands) if cands else "(no expression)"


_FIELD_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _check_name(name: str, *, where: str | None) -> str:
    name = name.strip()
    if not _FIELD_NAME.match(name):
        raise InputError(f"not a record field name: {name!r}", path=where, field=name or None)
    return name


def parse_map_options(options: Iterable[str]) -> dict[str, Expr]:
    """``["field=expr", …]`` (the ``--map`` options) as parsed expressions.

    Example:
        >>> sorted(parse_map_options(["task='sandbagging'", "subject=metadata.topic"]))
        ['subject', 'task']
    """
    out: dict[str, Expr] = {}
    for opt in options:
        name, eq, expr = opt.partition("=")
        if not eq:
            raise InputError(f"--map {opt!r}: expected field=expr", field="map")
        key = _check_name(name, where=None)
        out[key] = parse_expr(expr, field=key)
    return out


def load_mapping_file(path: str | Path) -> dict[str, tuple[Expr, ...]]:
    """A TOML mapping file: a ``[map]`` table (or top-level keys) of field = expr(s)."""
    p = Path(path)
    data = read_toml_object(p, what="mapping file")
    table = data.get("map", data)
    if not isinstance(table, dict):
        raise InputError("`map` must be a table of field = expression", path=p, field="map")
    out: dict[str, tuple[Expr, ...]] = {}
    for name, value in table.items():
        key = _check_name(name, where=str(p))
        exprs = [value] if isinstance(value, str) else value
        if not isinstance(exprs, list) or not exprs or not all(isinstance(e, str) for e in exprs):
            raise InputError("expected an expression string or a list of them", path=p,
                             field=key)
        out[key] = tuple(parse_expr(e, field=key, where=str(p)) for e in exprs)
    return out


def with_constants(mapping: FieldMapping, consts: Mapping[str, str | None]) -> FieldMapping:
    """``mapping`` with each given constant (``--cell``, ``--task``, ``--split``) as its field.

    Example:
        >>> m = with_constants(FieldMapping({"cell": exprs("output.model")}), {"cell": "base"})
        >>> m.resolve({})["cell"], m.describe("cell")
        ('base', '`--cell base`')
    """
    return mapping.with_overrides({
        k: replace(parse_expr(repr(v)), text=f"--{k} {v}") for k, v in consts.items() if v})


def exprs(*texts: str) -> tuple[Expr, ...]:
    """Parse default candidates (importers' built-in mappings)."""
    return tuple(parse_expr(t) for t in texts)
