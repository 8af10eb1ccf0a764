"""Helpers shared by the card-engine tests."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def row(**kw: Any) -> dict[str, Any]:
    """One valid record with defaults overridden by ``kw``."""
    base: dict[str, Any] = dict(cell="adamw", task="sandbagging", split="heldout",
                                question_id="q1", subject="anatomy", template_id="t1",
                                framing="eval", correct=1)
    base.update(kw)
    return base


class Interrupt(Exception):
    """Raised by :func:`interrupt_on_call` (a kill in the middle of a run)."""


def interrupt_on_call(n: int) -> Callable[[int, int], None]:
    """A progress callback that raises :class:`Interrupt` on its ``n``-th call."""
    calls: list[int] = []

    def progress(done: int, total: int) -> None:
        calls.append(done)
        if len(calls) == n:
            raise Interrupt

    return progress


def exit_code(argv: list[str]) -> int:
    """Run ``acard argv`` in-process and return its exit code (output left to the terminal)."""
    from acceptance_cards.cli import main

    try:
        main(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


def run_cli(argv: list[str], capsys: Any) -> tuple[int, str, str]:
    """Run ``acard argv`` in-process: (exit code, stdout, stderr)."""
    import pytest

    from acceptance_cards.cli import main

    with pytest.raises(SystemExit) as ei:
        main(argv)
    out, err = capsys.readouterr()
    code = ei.value.code
    return (code if isinstance(code, int) else 1), out, err


def write_example_inputs(folder: Path) -> dict[str, str]:
    """Simulated record files (b, d, xb, xd) and a mechanism file (m) in ``folder``; "dir" too."""
    from acceptance_cards.mechanism import save_mechanism
    from acceptance_cards.synthetic import example_mechanism, simulate_rows

    rb, rd = simulate_rows(seed=1, n_heldout=12, n_fresh=40)
    xb, xd = simulate_rows(seed=2, n_heldout=0, n_fresh=40, task="sycophancy")
    p = {n: str(write_jsonl(folder / f"{n}.jsonl", r))
         for n, r in (("b", rb), ("d", rd), ("xb", xb), ("xd", xd))}
    save_mechanism(example_mechanism(), folder / "m.json")
    p["m"] = str(folder / "m.json")
    p["dir"] = str(folder)
    return p


def synthetic_cell(name: str, seed: int, scenario: str, *, cross: str | None) -> Any:
    """One simulated audit cell (a :class:`CellResult`) with its card built."""
    from acceptance_cards.audit.cells import CellResult
    from acceptance_cards.card.build import build_card
    from acceptance_cards.card.model import CardOptions
    from acceptance_cards.synthetic import example_mechanism, simulate_pair

    b, d = simulate_pair(seed=seed, scenario=scenario)
    xb = xd = None
    if cross is not None:
        xb, xd = simulate_pair(seed=seed + 1000, scenario=cross, task="sycophancy")
    mech = example_mechanism("shrinkage")
    card = build_card(b, d, cross_baseline=xb, cross_defense=xd, mechanism=mech,
                      options=CardOptions(seed=seed, n_resamples=300, claimed_class="shrinkage"))
    return CellResult(name=name, model="synthetic", recipe=name.rsplit("-", 1)[0], seed=seed,
                      task="sandbagging", card=card, baseline=b, defense=d, cross_baseline=xb,
                      cross_defense=xd, mechanism=mech)


def synthetic_audit(folder: Path) -> Any:
    """The outputs (an :class:`AuditOutputs`) of a three-cell simulated audit written to ``folder``."""
    from acceptance_cards.audit.report.outputs import write_outputs

    cells = [synthetic_cell("ac-adamw-s42", 42, "reduction", cross="floor"),
             synthetic_cell("safelora-s43", 43, "null", cross="null"),
             synthetic_cell("gated-s44", 44, "heldout-only", cross=None)]
    return write_outputs(cells, folder)
