"""The audit config: shipped examples load, cells are planned, bad keys are named."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from acceptance_cards._util.errors import InputError
from acceptance_cards.audit.run.config import load_config
from acceptance_cards.audit.run.pipeline import CellPlan, plan_cells, submission_order
from helpers import run_cli

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

BASE = """
[audit]
seeds = [42, 43, 44]

[[models]]
name = "small"
spec = "smollm2"
{extra}

[[recipes]]
name = "ac-adamw"
claimed_class = "shrinkage"

[[recipes]]
name = "attack-aware"
claimed_class = "attack-targeted"
"""


def _write(tmp_path: Path, extra: str = "") -> Path:
    p = tmp_path / "audit.toml"
    p.write_text(BASE.format(extra=extra), encoding="utf-8")
    return p


@pytest.mark.parametrize("name", ["quick.toml", "cpu-full.toml", "paper-gemma2.toml"])
def test_shipped_configs_load_and_plan(name: str) -> None:
    cfg = load_config(EXAMPLES / name)
    plans = plan_cells(cfg)
    assert plans, name
    # every planned cell is a defense recipe (the baseline never gets a card of its own)
    assert all(p.recipe != cfg.audit.baseline_recipe for p in plans)
    assert len({p.name for p in plans}) == len(plans)


def test_full_grid_by_default(tmp_path: Path) -> None:
    cfg = load_config(_write(tmp_path))
    names = [p.name for p in plan_cells(cfg)]
    assert names == [f"small/{r}/s{s}" for r in ("ac-adamw", "attack-aware") for s in (42, 43, 44)]


def test_spot_check_model_restricts_seeds_and_recipes(tmp_path: Path) -> None:
    extra = ('\n[[models]]\nname = "spot"\nspec = "gemma3-270m"\nseeds = [42]\n'
             'recipes = ["attack-aware"]\n')
    cfg = load_config(_write(tmp_path, extra))
    names = [p.name for p in plan_cells(cfg)]
    assert names[-1] == "spot/attack-aware/s42"
    assert sum(n.startswith("spot/") for n in names) == 1
    assert sum(n.startswith("small/") for n in names) == 6


def test_ray_submission_starts_the_spot_check_early(tmp_path: Path) -> None:
    extra = ('\n[[models]]\nname = "spot"\nspec = "gemma3-270m"\nseeds = [42]\n'
             'recipes = ["attack-aware"]\n')
    plans = plan_cells(load_config(_write(tmp_path, extra)))
    submitted = [plans[i].name for i in submission_order(plans)]
    # second, not last: it runs beside the first cell instead of alone at the end
    assert submitted[:3] == ["small/ac-adamw/s42", "spot/attack-aware/s42", "small/ac-adamw/s43"]
    # consecutive cells of one model keep distinct seeds (no wait on a shared baseline)
    small = [n for n in submitted if n.startswith("small/")]
    assert all(a.rsplit("/", 1)[1] != b.rsplit("/", 1)[1] for a, b in zip(small, small[1:], strict=False))


@given(st.lists(st.tuples(st.sampled_from("abc"), st.integers(0, 3)), max_size=12))
def test_submission_order_is_a_permutation_keeping_each_models_order(
        cells: list[tuple[str, int]]) -> None:
    plans = [CellPlan(f"{m}/r/s{i}", m, "r", i) for i, (m, _) in enumerate(cells)]
    order = submission_order(plans)
    assert sorted(order) == list(range(len(plans)))
    for m in "abc":
        mine = [i for i in order if plans[i].model == m]
        assert mine == sorted(mine)


@pytest.mark.parametrize(("extra", "needle"), [
    ('recipes = ["safelora"]', "not defense recipes"),
    ("seeds = [7]", "not in [audit] seeds"),
    ('colour = "blue"', "colour"),
    ("seeds = [42, 42]", "seeds repeat: [42]"),
])
def test_bad_model_entries_are_named(tmp_path: Path, extra: str, needle: str) -> None:
    with pytest.raises(InputError) as ei:
        load_config(_write(tmp_path, extra))
    msg = str(ei.value)
    assert needle in msg and "audit.toml" in msg


def test_cli_plan_lists_cells_and_bad_config_exits_2(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(["audit", str(_write(tmp_path)), "-o", str(tmp_path / "out"), "--plan"], capsys)
    assert code == 0
    assert "small/attack-aware/s44" in out
    bad = _write(tmp_path, "seeds = [7]")
    code, out, err = run_cli(["audit", str(bad), "-o", str(tmp_path / "out"), "--plan"], capsys)
    assert code == 2
    assert "Traceback" not in err and "seeds" in err


def test_per_task_training_overrides_merge_over_train(tmp_path: Path) -> None:
    p = _write(tmp_path)
    p.write_text(p.read_text() + "\n[train]\nsteps = 60\nlr = 0.001\n"
                 "\n[train_by_task.sycophancy]\nsteps = 90\n")
    cfg = load_config(p)
    assert cfg.train_for("sandbagging") == {"steps": 60, "lr": 0.001}
    assert cfg.train_for("sycophancy") == {"steps": 90, "lr": 0.001}


def test_overrides_for_a_task_not_run_and_bad_keys_are_named(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    p = _write(tmp_path)
    p.write_text(p.read_text() + "\n[train_by_task.arithmetic]\nsteps = 5\n")
    with pytest.raises(InputError, match="arithmetic"):
        load_config(p)
    # a typo inside a task's overrides fails before any work starts, naming the section and key
    p.write_text(_write(tmp_path).read_text() + "\n[train_by_task.sycophancy]\nstepz = 5\n")
    code, _, err = run_cli(["audit", str(p), "-o", str(tmp_path / "out")], capsys)
    assert code == 2
    assert "train_by_task.sycophancy" in err and "stepz" in err


@pytest.mark.parametrize("value", ["", "none", "None"])
def test_no_cross_task(tmp_path: Path, value: str) -> None:
    p = _write(tmp_path)
    p.write_text(p.read_text().replace("[audit]\n", f'[audit]\ncross_task = "{value}"\n'))
    assert load_config(p).audit.cross_task is None


def test_split_fraction_default_is_the_shared_constant(tmp_path: Path) -> None:
    from acceptance_cards.constants import FRESH_SUBJECT_FRACTION

    assert load_config(_write(tmp_path)).split.fresh_subject_fraction == FRESH_SUBJECT_FRACTION


@pytest.mark.parametrize("device", ["auto", "cpu", "cuda", "cuda:3", "mps"])
def test_compute_device_vocabulary(tmp_path: Path, device: str) -> None:
    p = _write(tmp_path)
    p.write_text(p.read_text() + f'\n[compute]\ndevice = "{device}"\n')
    assert load_config(p).compute.device == device
    assert load_config(_write(tmp_path)).compute.device == "cpu"  # default: today's behaviour


@pytest.mark.parametrize("device", ["gpu", "cuda:", "cuda:x", "CPU0", "tpu"])
def test_a_malformed_device_is_named_without_torch(tmp_path: Path, device: str) -> None:
    p = _write(tmp_path)
    p.write_text(p.read_text() + f'\n[compute]\ndevice = "{device}"\n')
    with pytest.raises(InputError) as ei:
        load_config(p)
    assert "audit.toml" in str(ei.value) and "compute.device" in str(ei.value)


def test_an_absent_device_fails_before_any_step(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A device the machine lacks: exit 2, one line naming the file and field, nothing written."""
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        pytest.skip("this machine has a CUDA device")
    p = _write(tmp_path)
    p.write_text(p.read_text() + '\n[compute]\ndevice = "cuda:0"\n')
    out = tmp_path / "out"
    code, _, err = run_cli(["audit", str(p), "-o", str(out), "--progress", "none"], capsys)
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    assert str(p) in lines[0] and "compute.device" in lines[0] and "CUDA" in lines[0]
    assert not out.exists()


@pytest.mark.parametrize(("recipes", "field"), [
    ('params = { alpah = 1.0 }', "recipes.attack-aware.params.alpah"),
    ('params = { alpha = "x" }', "recipes.attack-aware.params.alpha"),
    ('recipe = "nosuch"', "recipes.attack-aware.recipe"),
])
def test_bad_recipe_names_and_params_fail_before_any_step(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], recipes: str, field: str) -> None:
    """Checked with the config (the registry's own validation), not inside the defense's train step."""
    pytest.importorskip("torch")
    p = _write(tmp_path)
    p.write_text(p.read_text().replace('claimed_class = "attack-targeted"\n',
                                       f'claimed_class = "attack-targeted"\n{recipes}\n'))
    out = tmp_path / "out"
    code, _, err = run_cli(["audit", str(p), "-o", str(out), "--progress", "none"], capsys)
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    assert str(p) in lines[0] and field in lines[0]
    assert not (out / "artifacts").exists()


def test_plan_and_status_import_no_torch(tmp_path: Path) -> None:
    """The recipe check imports the registry (torch) only when an audit runs."""
    import json
    import subprocess
    import sys

    cfg = _write(tmp_path)
    code = ("import sys, json\nfrom acceptance_cards.cli import app\n"
            "for extra in ('--plan', '--status'):\n"
            "    try:\n"
            f"        app([\"audit\", {str(cfg)!r}, \"-o\", {str(tmp_path / 'out')!r}, extra])\n"
            "    except SystemExit as e:\n"
            "        assert e.code in (0, None), e.code\n"
            "print(json.dumps('torch' in sys.modules))\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    assert json.loads(r.stdout.strip().splitlines()[-1]) is False


def test_a_repeated_audit_seed_is_named_with_its_field(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Two cells of one name once reached the Ray executor and failed there with a traceback."""
    p = _write(tmp_path)
    p.write_text(p.read_text().replace("seeds = [42, 43, 44]", "seeds = [42, 43, 42]"),
                 encoding="utf-8")
    code, _, err = run_cli(["audit", str(p), "-o", str(tmp_path / "out"), "--plan"], capsys)
    assert code == 2 and "Traceback" not in err
    assert "audit.toml" in err and "audit.seeds" in err and "seeds repeat: [42]" in err
