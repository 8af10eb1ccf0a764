"""The card and check commands take their choices from acceptance_cards.vocab (no CLI enum):
the option annotations are the vocabulary's Literal types, so `--help`, typer's
check of a bad value (exit 2) and the data contract cannot drift apart."""

from __future__ import annotations

from typing import Any, get_args, get_type_hints

import pytest

from acceptance_cards import vocab
from acceptance_cards.card.verdict import LEVEL_NAMES
from acceptance_cards.cli import card_cmds, check_cmds, import_cmds
from helpers import run_cli as run


def _option_type(command: Any, name: str) -> Any:
    hint = get_type_hints(command, include_extras=True)[name]
    (inner, *_) = get_args(hint)  # Annotated[T, typer.Option(...)]
    return inner


@pytest.mark.parametrize(("command", "option", "literal"), [
    (card_cmds.card, "claimed_class", vocab.ClaimedClass),
    (card_cmds.card, "require", vocab.RequireLevel | None),
    (card_cmds.render_cmd, "fmt", vocab.RenderFormat),
    (card_cmds.power, "split", vocab.Split),
    (check_cmds.check, "require", vocab.RequireLevel),
    (import_cmds.import_inspect_cmd, "split", vocab.Split | None),
    (import_cmds.import_lm_eval_cmd, "split", vocab.Split | None),
])
def test_options_are_vocabulary_literals(command: Any, option: str, literal: Any) -> None:
    assert _option_type(command, option) == literal


def test_require_levels_are_the_verdict_levels() -> None:
    assert tuple(LEVEL_NAMES) == vocab.REQUIRE_LEVELS
    assert " > ".join(vocab.REQUIRE_LEVELS) in check_cmds.REQUIRE_HELP


@pytest.mark.parametrize(("argv", "option", "choices"), [
    (["check", "c.json", "--require", "excellent"], "--require", vocab.REQUIRE_LEVELS),
    (["render", "c.json", "-f", "pdf"], "--format", vocab.RENDER_FORMATS),
    (["power", "-b", "b", "-d", "d", "--split", "nope"], "--split", vocab.SPLITS),
    (["card", "-b", "b", "-d", "d", "-o", "o.json", "--claimed-class", "magic"],
     "--claimed-class", vocab.CLAIMED_CLASSES),
    (["import", "lm-eval", "s.jsonl", "--split", "test", "-o", "r.jsonl"], "--split", vocab.SPLITS),
])
def test_a_bad_choice_exits_2_naming_the_choices(argv: list[str], option: str,
                                                 choices: tuple[str, ...], capsys: Any) -> None:
    code, out, err = run(argv, capsys)
    assert code == 2 and not out and "Traceback" not in err
    assert f"Invalid value for '{option}'" in err
    assert "is not one of " + ", ".join(f"'{c}'" for c in choices) in err
