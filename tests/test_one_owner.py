"""One owner per fact in the core (issue 13): the gate-verdict dict, the closed
vocabularies and the paper's design numbers are each defined in one place.

The core is every module below ``evidence`` in the stage table of
``tests/test_architecture.py`` (records … render, synthetic, importers, export).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import get_args

import pytest

import acceptance_cards
from acceptance_cards import vocab
from acceptance_cards.card.verdict import conclude
from acceptance_cards.synthetic import example_card

PKG = Path(acceptance_cards.__file__).resolve().parent
#: Folders and top-level modules outside the core (evidence, audit, CLI own their own rows).
NOT_CORE = ("evidence", "audit", "cli", "__main__.py")
CORE = sorted(
    f for f in PKG.rglob("*.py")
    if not f.relative_to(PKG).parts[0].startswith(NOT_CORE) and f.name != "vocab.py"
)


def _rel(f: Path) -> str:
    return str(f.relative_to(PKG))


def test_core_module_list_is_not_empty() -> None:
    names = {_rel(f) for f in CORE}
    assert {"records.py", "card/build.py", "card/claims.py", "render/__init__.py"} <= names


def test_gate_verdict_dict_is_built_in_one_place() -> None:
    # `{"a": <x>.verdict, ...}` spelled out anywhere but card/model.py is a second owner
    pattern = re.compile(r"""["']a["']\s*:\s*[\w.]*\.verdict""")
    owners = [_rel(f) for f in PKG.rglob("*.py") if pattern.search(f.read_text(encoding="utf-8"))]
    assert owners == ["card/model.py"]


def test_gate_verdicts_feeds_conclude() -> None:
    from acceptance_cards.card.model import gate_verdicts

    card = example_card()
    states = gate_verdicts(card.diagnostics)
    assert list(states) == ["a", "b", "c", "d"]
    assert states == {g: getattr(card.diagnostics, g).verdict for g in "abcd"}
    assert conclude(states).verdict == card.verdict


def _literal_values(node: ast.expr) -> tuple[str, ...] | None:
    """The string values of a ``Literal[...]`` expression, else None."""
    if not (isinstance(node, ast.Subscript) and isinstance(node.value, ast.Name)
            and node.value.id == "Literal"):
        return None
    elts = node.slice.elts if isinstance(node.slice, ast.Tuple) else [node.slice]
    return tuple(e.value for e in elts if isinstance(e, ast.Constant) and isinstance(e.value, str))


VOCABULARIES = {frozenset(get_args(getattr(vocab, n))): n for n in vocab.__all__
                if n[0].isupper() and not n.isupper()}
#: The value tuples, in their order (another order of the same values is another fact,
#: e.g. the verdict strength order).
VALUE_TUPLES = {getattr(vocab, n): n for n in vocab.__all__ if n.isupper()}


@pytest.mark.parametrize("f", CORE, ids=_rel)
def test_core_defines_no_vocabulary_of_its_own(f: Path) -> None:
    """A Literal whose values are one of `vocab`'s must be imported from there."""
    copies = []
    for node in ast.walk(ast.parse(f.read_text(encoding="utf-8"))):
        value = node.value if isinstance(node, ast.Assign | ast.AnnAssign) else None
        values = _literal_values(value) if value is not None else None
        if values is not None and frozenset(values) in VOCABULARIES:
            copies.append(f"line {node.lineno}: {VOCABULARIES[frozenset(values)]}")
        # value tuples spelled out, e.g. FRAMINGS = ("eval", "deploy")
        if isinstance(value, ast.Tuple):
            strs = tuple(e.value for e in value.elts if isinstance(e, ast.Constant))
            if len(strs) > 1 and strs in VALUE_TUPLES:
                copies.append(f"line {node.lineno}: {VALUE_TUPLES[strs]}")
    assert not copies, _rel(f)


#: The paper's design numbers and the CI level, owned by `constants`.
DESIGN_NUMBERS = {48: "N_HELDOUT_QUESTIONS", 150: "N_FRESH_QUESTIONS", 0.95: "CI_LEVEL"}


@pytest.mark.parametrize("f", CORE, ids=_rel)
def test_core_defaults_name_their_constants(f: Path) -> None:
    """No function default in the core spells 48, 150 or 0.95 out."""
    found = []
    for node in ast.walk(ast.parse(f.read_text(encoding="utf-8"))):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            for d in (*node.args.defaults, *node.args.kw_defaults):
                if isinstance(d, ast.Constant) and not isinstance(d.value, bool) and \
                        d.value in DESIGN_NUMBERS:
                    found.append(f"{node.name}: {d.value!r} (use {DESIGN_NUMBERS[d.value]})")
    assert not found, _rel(f)


def test_old_public_names_still_import() -> None:
    from acceptance_cards.card.verdict import CARD_VERDICTS, CardVerdict
    from acceptance_cards.diagnostics import GATE_VERDICTS, ClaimedClass, GateVerdict, MechanismClass
    from acceptance_cards.records import FRAMINGS, SPLITS
    from acceptance_cards.render import FORMATS, Format

    assert (CARD_VERDICTS, GATE_VERDICTS, FRAMINGS, SPLITS, FORMATS) == (
        vocab.CARD_VERDICTS, vocab.GATE_VERDICTS, vocab.FRAMINGS, vocab.SPLITS, vocab.RENDER_FORMATS)
    for old, new in ((CardVerdict, vocab.CardVerdict), (GateVerdict, vocab.GateVerdict),
                     (ClaimedClass, vocab.ClaimedClass), (MechanismClass, vocab.MechanismClass),
                     (Format, vocab.RenderFormat)):
        assert old is new
