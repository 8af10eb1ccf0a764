"""Typed recipe parameters: help text, ranges, strict numbers, one error naming the field."""

from __future__ import annotations

import math
import re

import pytest

from acceptance_cards._util.errors import InputError
from acceptance_cards.cli import main
from acceptance_cards.evidence.training.recipes import (
    BUILTIN,
    describe_params,
    make_recipe,
    recipe_class,
)


def test_every_builtin_parameter_has_help_and_refuses_unknown_keys() -> None:
    for name, cls in BUILTIN.items():
        assert cls.Params.model_config.get("extra") == "forbid", name
        for p in describe_params(cls):
            assert len(p.help) > 20, (name, p.name)
        with pytest.raises(InputError, match=f"recipe '{name}' has no parameter 'zz'") as info:
            make_recipe(name, {"zz": 1})
        assert info.value.field == "recipe_params"


def test_resolved_params_keep_their_recorded_shape() -> None:
    """config.json records the same keys and JSON types as the untyped dicts did."""
    assert make_recipe("adamw").params() == {}
    assert make_recipe("ac-adamw", {"alpha": 10}).params() == {"alpha": 10.0, "top_k_fraction": 0.1}
    assert make_recipe("attack-aware", {"alpha": 2}).params() == {"alpha": 2.0}
    safe = make_recipe("safelora").params()
    assert {k: safe[k] for k in ("select", "threshold", "num_layers", "aligned", "unaligned",
                                 "reference_steps")} == {
        "select": "threshold", "threshold": 0.5, "num_layers": 10, "aligned": None,
        "unaligned": None, "reference_steps": 40}


@pytest.mark.parametrize("name, params, field, message", [
    ("attack-aware", {"alpha": -1}, "alpha", "greater than or equal to 0"),
    ("attack-aware", {"alpha": 4.5}, "alpha", "less than or equal to 4"),
    ("attack-aware", {"alpha": True}, "alpha", "valid number"),
    ("attack-aware", {"alpha": "2"}, "alpha", "valid number"),
    ("attack-aware", {"alpha": math.nan}, "alpha", "finite number"),
    ("ac-adamw", {"alpha": math.inf}, "alpha", "finite number"),
    ("ac-adamw", {"top_k_fraction": 0}, "top_k_fraction", "greater than 0"),
    ("ac-adamw", {"top_k_fraction": 1.5}, "top_k_fraction", "less than or equal to 1"),
    ("safelora", {"select": "best"}, "select", "'threshold' or 'number'"),
    ("safelora", {"num_layers": 2.5}, "num_layers", "valid integer"),
    ("safelora", {"num_layers": 0}, "num_layers", "greater than or equal to 1"),
    ("safelora", {"reference_steps": 0}, "reference_steps", "greater than or equal to 1"),
    ("safelora", {"threshold": 1.5}, "threshold", "less than or equal to 1"),
    ("safelora", {"aligned": "x"}, "unaligned", "both aligned and unaligned"),
    ("safelora", {"unaligned": "x"}, "unaligned", "both aligned and unaligned"),
])
def test_bad_values_are_one_error_naming_the_field(name: str, params: dict[str, object],
                                                   field: str, message: str) -> None:
    with pytest.raises(InputError, match=re.escape(message)) as info:
        make_recipe(name, params)
    assert info.value.field == f"recipe_params.{field}"


def test_acard_recipes_lists_parameters_with_help(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as ex:
        main(["recipes"])
    assert ex.value.code in (0, None)
    out = capsys.readouterr().out
    for name, cls in BUILTIN.items():
        assert f"{name}  claims {cls.claimed_class}" in out
        for p in describe_params(cls):
            assert f"-p {p.name}=" in out and p.help in out
    assert "float, default 1.0  (>= 0.0, <= 4.0)" in out  # attack-aware's alpha


def test_acard_recipes_unknown_name_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as ex:
        main(["recipes", "--recipe", "sgd"])
    assert ex.value.code == 2
    err = capsys.readouterr().err
    assert "unknown recipe 'sgd'; one of adamw, ac-adamw, attack-aware, safelora" in err
    assert "Traceback" not in err


def test_a_builtin_name_resolves_to_the_builtin() -> None:
    assert recipe_class("safelora") is BUILTIN["safelora"]
    path = "acceptance_cards.evidence.training.recipes.attack_aware:AttackAware"
    assert recipe_class(path) is BUILTIN["attack-aware"]
    assert make_recipe(path, {"alpha": 0.5}).params() == {"alpha": 0.5}
