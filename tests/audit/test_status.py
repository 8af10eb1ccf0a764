"""The status summary's arithmetic: counts per state and the remaining-time estimate.

(The walk over a real store — finished, interrupted and unstarted audits — is
tested on the tiny model in test_audit_e2e.py.)
"""

from __future__ import annotations

from pathlib import Path

import pytest

from acceptance_cards.audit.run.status import AuditStatus, State, StepStatus


def _s(kind: str, group: tuple[str, ...], state: State, seconds: float = 0.0) -> StepStatus:
    return StepStatus(kind, "/".join(group), state, "k" if state != "pending" else None,
                      seconds=seconds, group=(kind, *group))


def _status(*steps: StepStatus) -> AuditStatus:
    return AuditStatus(name="t", steps=steps, cells_done=(), cells=("c",))


def test_counts_and_seconds_per_kind() -> None:
    st = _status(_s("train", ("m", "adamw"), "done", 10.0), _s("train", ("m", "adamw"), "running"),
                 _s("eval", ("m", "adamw"), "partial"), _s("eval", ("m", "adamw"), "done", 2.0))
    assert st.counts()["train"] == {"done": 1, "running": 1, "partial": 0, "pending": 0}
    assert st.counts()["eval"] == {"done": 1, "running": 0, "partial": 1, "pending": 0}
    assert st.counts()["mechanism"] == {"done": 0, "running": 0, "partial": 0, "pending": 0}
    assert st.seconds_done() == {"split": 0.0, "train": 10.0, "eval": 2.0, "mechanism": 0.0}


def test_remaining_uses_the_group_mean_then_the_kind_and_model_mean() -> None:
    st = _status(
        _s("train", ("m", "adamw", "syc"), "done", 100.0),
        _s("train", ("m", "adamw", "syc"), "done", 200.0),
        _s("train", ("m", "ac", "sand"), "done", 400.0),
        _s("train", ("m", "adamw", "syc"), "pending"),    # its group: (100 + 200) / 2
        _s("train", ("m", "safelora", "sand"), "running"),  # no group peer: kind+model (700 / 3)
        _s("train", ("g", "adamw", "syc"), "pending"),    # another model: unknown
        _s("mechanism", ("m", "ac"), "pending"),          # no finished mechanism: unknown
    )
    left = st.remaining()
    assert left.seconds == 150.0 + (100.0 + 200.0 + 400.0) / 3
    assert (left.n_estimated, left.n_unknown) == (2, 2)


def test_nothing_left_when_everything_is_done() -> None:
    left = _status(_s("split", (), "done", 0.5), _s("train", ("m", "a"), "done", 9.0)).remaining()
    assert (left.seconds, left.n_estimated, left.n_unknown) == (0.0, 0, 0)


def test_a_plugin_recipes_source_keys_its_train_step(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """Editing a module:Class recipe's file changes its train key; a built-in's key has no such part."""
    from acceptance_cards.audit.run.config import AuditConfig
    from acceptance_cards.audit.run.keys import train_inputs, with_code
    from acceptance_cards.audit.run.store import step_key

    plug = tmp_path / "myplugrecipe_fixaudit.py"
    plug.write_text("X = 1\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    cfg = AuditConfig.model_validate({
        "models": [{"name": "m", "spec": "m"}],
        "recipes": [{"name": "p", "recipe": "myplugrecipe_fixaudit:Mine"}]})
    model_in = {"spec": "m", "dtype": "float32", "hash": "h", "device": "cpu"}

    def key(name: str) -> str:
        return step_key("train", with_code("train", train_inputs(
            cfg, model_in, cfg.recipe(name), 1, "sandbagging", "s")))

    before = key("p")
    plug.write_text("X = 2\n")
    assert key("p") != before
    assert "recipe_source" not in train_inputs(cfg, model_in, cfg.recipe("adamw"), 1,
                                               "sandbagging", "s")
