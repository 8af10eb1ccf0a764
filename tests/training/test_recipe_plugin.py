"""A researcher's own recipe, installed as a package, runs through ``acard train``.

The package is the complete example of ``docs/writing-a-recipe.md`` (its
``# file:`` blocks), built and ``pip install --target``-ed into a temporary
folder (never into the shared environment) and found through the entry-point
group ``acceptance_cards.recipes`` — and, uninstalled, as ``module:Class``.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from helpers_train import tiny_config
from safetensors.torch import load_file

from acceptance_cards._util.errors import InputError
from acceptance_cards.evidence.training.loop import train_cell
from acceptance_cards.evidence.training.recipes import known_recipes, recipe_class, source_digest

DOC = Path(__file__).resolve().parents[2] / "docs" / "writing-a-recipe.md"
SRC = Path(__file__).resolve().parents[2] / "src"
_BLOCK = re.compile(r"```\w*\n# file: (?P<name>\S+)\n(?P<body>.*?)```", re.S)


def _write_example(folder: Path) -> Path:
    """The doc's example package, file by file, into ``folder``."""
    files = {m["name"]: m["body"] for m in _BLOCK.finditer(DOC.read_text(encoding="utf-8"))}
    assert set(files) == {"pyproject.toml", "acard_shrink.py"}
    folder.mkdir(parents=True)
    for name, body in files.items():
        # the example depends on acceptance-cards[models]; here that is the checkout under test
        if name == "pyproject.toml":
            body = body.replace('dependencies = ["acceptance-cards[models]"]\n', "")
        (folder / name).write_text(body, encoding="utf-8")
    return folder


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``pip install --target`` of the example (offline, no build isolation)."""
    root = tmp_path_factory.mktemp("plugin")
    pkg = _write_example(root / "acard-shrink")
    target = root / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-index",
                    "--no-build-isolation", "--target", str(target), str(pkg)],
                   check=True, capture_output=True, text=True)
    assert list(target.glob("acard_shrink-*.dist-info/entry_points.txt"))
    return target


def _acard(target: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = os.environ | {"PYTHONPATH": os.pathsep.join([str(target), str(SRC)]),
                        "PYTHONWARNINGS": "ignore"}
    return subprocess.run([sys.executable, "-m", "acceptance_cards", *args], env=env,
                          capture_output=True, text=True)


def _train_args(tiny_dir: Path, out: Path, recipe: str, *extra: str) -> list[str]:
    return ["train", "--model", str(tiny_dir), "--recipe", recipe, "--seed", "42", "--layers", "2",
            "--steps", "3", "--n-examples", "16", "--batch-size", "4", "--threads", "1",
            "-o", str(out), *extra]


def _factors(cell: Path) -> dict[str, torch.Tensor]:
    return load_file(str(cell / "adapter" / "adapter_model.safetensors"))


def test_an_installed_recipe_trains_through_acard_train(installed: Path, tiny_dir: Path,
                                                        tmp_path: Path) -> None:
    listing = _acard(installed, "recipes")
    assert listing.returncode == 0, listing.stderr
    assert "shrink  claims shrinkage" in listing.stdout
    assert "Share of the trained update kept (1 = AdamW, 0 = no fine-tune)." in listing.stdout

    out = tmp_path / "shrink"
    run = _acard(installed, *_train_args(tiny_dir, out, "shrink", "-p", "factor=0.25"))
    assert run.returncode == 0, run.stderr
    base = tmp_path / "adamw"  # the matched baseline: the same command with the built-in
    assert _acard(installed, *_train_args(tiny_dir, base, "adamw")).returncode == 0

    got, ref = _factors(out), _factors(base)
    assert sorted(got) == sorted(ref) and any(k.endswith("lora_B.weight") for k in got)
    for key in ref:  # A is AdamW's; B (hence ΔW = B·A·s) is exactly a quarter of AdamW's
        want = ref[key] * 0.25 if "lora_B" in key else ref[key]
        torch.testing.assert_close(got[key], want, rtol=1e-5, atol=1e-7)
        assert ref[key].abs().max() > 0
    result = json.loads((out / "result.json").read_text())
    config = json.loads((out / "config.json").read_text())
    assert result["recipe"] == "shrink" and result["recipe_info"]["shrink_factor"] == 0.25
    assert config["recipe"]["params"] == {"factor": 0.25, "l2": 0.0}
    assert config["recipe"]["claimed_class"] == "shrinkage"


def test_a_plugin_parameter_error_names_the_field(installed: Path, tiny_dir: Path,
                                                  tmp_path: Path) -> None:
    out = tmp_path / "bad"
    run = _acard(installed, *_train_args(tiny_dir, out, "shrink", "-p", "factor=2"))
    assert run.returncode == 2 and "Traceback" not in run.stderr
    assert "recipe_params.factor" in run.stderr and "less than or equal to 1" in run.stderr
    assert not (out / "adapter").exists()


def test_module_class_needs_no_install(installed: Path, tiny_dir: Path, tmp_path: Path,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    src = tmp_path / "dev"
    src.mkdir()
    (src / "acard_shrink.py").write_bytes((installed / "acard_shrink.py").read_bytes())
    monkeypatch.syspath_prepend(str(src))
    assert "shrink" not in known_recipes()  # not installed in this process
    cls = recipe_class("acard_shrink:Shrink")
    assert cls.name == "shrink" and source_digest("acard_shrink:Shrink") is not None
    res = train_cell(tiny_config(tiny_dir, recipe="acard_shrink:Shrink",
                                 recipe_params={"factor": 0.0}, steps=2), tmp_path / "cell")
    assert res.recipe_info["shrink_factor"] == 0.0
    b = [t for k, t in _factors(tmp_path / "cell").items() if "lora_B" in k]
    assert b and all(float(t.abs().max()) == 0.0 for t in b)


@pytest.mark.parametrize("spec, message", [
    ("sgd", "unknown recipe 'sgd'; one of adamw, ac-adamw, attack-aware, safelora"),
    ("no_such_module_xyz:Thing", "cannot import 'no_such_module_xyz'"),
    ("json:JSONDecoder", "is not a Recipe subclass"),
    ("json:Nope", "has no 'Nope'"),
    ("json:", "expected module:Class"),
])
def test_bad_recipe_names_are_input_errors(spec: str, message: str) -> None:
    with pytest.raises(InputError, match=re.escape(message)) as info:
        recipe_class(spec)
    assert info.value.field == "recipe"


def _fake_dist(root: Path, value: str) -> None:
    """A bare installed distribution whose only entry point is ``broken = <value>``."""
    info = root / "acard_broken-0.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: acard-broken\nVersion: 0.0\n")
    (info / "entry_points.txt").write_text(f"[acceptance_cards.recipes]\nbroken = {value}\n")


@pytest.mark.parametrize("value, message", [
    ("json:Missing", "does not import"),  # ep.load() raises AttributeError
    ("acard_broken_mod:Thing", "does not import"),  # the module itself raises AttributeError
])
def test_a_broken_plugin_entry_point_is_an_input_error(
        value: str, message: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_dist(tmp_path, value)
    (tmp_path / "acard_broken_mod.py").write_text("import json\njson.no_such_thing\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert "broken" in known_recipes()
    with pytest.raises(InputError, match=re.escape(message)) as info:
        recipe_class("broken")
    assert info.value.field == "recipe" and value in info.value.message


def test_a_module_class_whose_module_fails_is_an_input_error(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "acard_attr_fail.py").write_text("import json\njson.no_such_thing\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(InputError, match="cannot import 'acard_attr_fail'") as info:
        recipe_class("acard_attr_fail:Thing")
    assert info.value.field == "recipe"
