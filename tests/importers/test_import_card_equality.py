"""A card from imported inspect records equals the card from our own evaluator's records.

Both ran SmolLM2-135M-Instruct (base, and with a seeded abstain-attack LoRA) on
the same framed MMLU items with the same prompts: inspect_ai through its
Hugging Face provider with greedy generation and its ``pattern`` scorer (the
completion starts with the letter), our evaluator with the letter scorer
(next-token argmax; ``valid`` when the top token is a letter). The two agree on
an item when both read the same letter, or both read no letter. On the items
where they agree, the cards must be identical.

Our stored records carry each decision's fp32 margin. A decision whose margin
is within bf16 numeric noise (``constants.NEAR_TIE_MARGIN``) may flip on a CPU
with other bf16 kernels, so the re-run compares only the decisions above it.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from importer_data import ATTACKED_CELL, BASE_CELL, CELLS, inspect_log, ours

from acceptance_cards.card.build import build_card
from acceptance_cards.card.model import CardOptions
from acceptance_cards.constants import NEAR_TIE_MARGIN
from acceptance_cards.records import records_from_rows

pytest.importorskip("inspect_ai")

from acceptance_cards.importers.inspect_logs import import_inspect  # noqa: E402

#: Share of items on which the two scorers must agree (measured: see the test output).
MIN_AGREEMENT = 0.9
#: Most of our stored decisions must sit clear of numeric noise, or the re-run
#: below compares too little to catch stale records (stored: 10 of 48 base and
#: 12 of 48 abstain-cell decisions are near-ties; 2 of the 12 re-run ones).
MAX_NEAR_TIE_SHARE = 0.3
Key = tuple[str, str]


def _imported(cell: str) -> dict[Key, dict[str, Any]]:
    recs = import_inspect([inspect_log(cell)]).records
    return {(r["question_id"], r["template_id"]): r for r in recs}


def _ours(cell: str) -> dict[Key, dict[str, Any]]:
    return {(r["question_id"], r["template_id"]): r for r in ours(cell)}


def _agree(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """Same letter read by both scorers, or no letter read by either."""
    inspect_letter = a.get("answer") if a.get("answer") in ("A", "B", "C", "D") else None
    return (inspect_letter == b["answer"]) if b["valid"] else inspect_letter is None


def _kept(pairs: dict[str, tuple[dict[Key, Any], dict[Key, Any]]]) -> set[Key]:
    keys = set.intersection(*(set(imp) & set(our) for imp, our in pairs.values()))
    keys = {k for k in keys if all(_agree(imp[k], our[k]) for imp, our in pairs.values())}
    # a question stays only if both framings survive
    framings: dict[str, set[str]] = {}
    for q, t in keys:
        framings.setdefault(q, set()).add(pairs[BASE_CELL][0][(q, t)]["framing"])
    return {(q, t) for q, t in keys if len(framings[q]) == 2}


def _comparable(card: Any) -> dict[str, Any]:
    d = card.model_dump(mode="json")
    # scorer names, valid rates and margins (inspect records carry none) are scorer-specific
    for cap in d["capability"]:
        for k in ("scorers", "valid_rate_eval", "valid_rate_deploy", "gap_from_malformed",
                  "near_tie_share"):
            cap.pop(k)
    d["notes"] = [_same_fact(n) for n in d["notes"] if "non-answers" not in n]
    return d


def _same_fact(note: str) -> str:
    """One framing's answers all 0, said with or without the top token (ours records it).

    Our letter scorer records the model's top token, so the scorer check can say the
    zeros are the declared non-answer ``E``; inspect's records carry no top token, so
    the same records get "a real effect, or a scorer that cannot read these answers".
    """
    m = (re.match(r"Scorer check: every (\w+)-framed answer of cell '([^']+)' on the (\w+) split "
                  r"is the declared non-answer", note)
         or re.match(r"Scorer check: every (\w+)-framed answer of cell '([^']+)' is scored 0 on "
                     r"the (\w+) split: a real effect", note))
    return f"{m[1]}-framed answers of {m[2]} all 0 on {m[3]}" if m else note


def test_fixture_items_are_the_same_on_both_sides() -> None:
    for cell in CELLS:
        imp, our = _imported(cell), _ours(cell)
        assert set(imp) == set(our) and len(imp) == 48
        for k, r in imp.items():
            for f in ("subject", "framing", "split", "task"):
                assert r[f] == our[k][f]
            assert r["gold"] == our[k]["gold"]


def test_card_from_imported_records_equals_card_from_ours(capsys: pytest.CaptureFixture[str]
                                                          ) -> None:
    pairs = {cell: (_imported(cell), _ours(cell)) for cell in CELLS}
    total = sum(len(imp) for imp, _ in pairs.values())
    agree = sum(_agree(imp[k], our[k]) for imp, our in pairs.values() for k in imp)
    kept = _kept(pairs)
    with capsys.disabled():
        print(f"\nscorer agreement: {agree}/{total} = {agree / total:.3f}; "
              f"{len(kept)} of 48 items kept per cell")
    assert agree / total >= MIN_AGREEMENT
    assert len({q for q, _ in kept}) >= 8  # enough questions left for a meaningful card

    def card(side: int) -> Any:
        rs = [records_from_rows([pairs[c][side][k] for k in sorted(kept)], name=c)
              for c in (BASE_CELL, ATTACKED_CELL)]
        return build_card(rs[0], rs[1], options=CardOptions(seed=0, n_resamples=2000))

    from_import, from_ours = card(0), card(1)
    assert _comparable(from_import) == _comparable(from_ours)
    # the attack installs a gap on the attacked cell, so the card is not trivially all-zero
    assert from_import.defense_gap.point is not None and from_import.defense_gap.point > 0
    assert from_import.diagnostics.a.ci_high is not None
    assert from_import.diagnostics.a.ci_high > from_import.diagnostics.a.ci_low


def test_our_stored_records_carry_margins_and_few_near_ties() -> None:
    for cell in CELLS:
        recs = ours(cell)
        assert all(isinstance(r["margin"], float) and r["margin"] >= 0 for r in recs)
        near = sum(r["margin"] < NEAR_TIE_MARGIN[r["scorer"]] for r in recs)
        assert near / len(recs) <= MAX_NEAR_TIE_SHARE


@pytest.mark.slow
def test_our_fixture_records_are_what_our_evaluator_gives_now() -> None:
    """Re-run our evaluator on the base model: the stored records are not stale.

    A subset (the held-out questions under one eval and one deploy template)
    keeps this under a minute on a busy 2-core machine. bf16 kernels differ
    between CPUs (an AMD EPYC with avx512_bf16 flips a near-tied letter), so
    only decisions whose stored margin is above the near-tie bound must match,
    and their margins must agree within it.
    """
    pytest.importorskip("torch")
    from acceptance_cards.evidence.data.mmlu import load_mmlu
    from acceptance_cards.evidence.data.templates import load_templates
    from acceptance_cards.evidence.eval.evaluate import evaluate, make_jobs
    from acceptance_cards.evidence.eval.margins import decision
    from acceptance_cards.evidence.models.loading import load_model

    tids = ("eval-h01", "deploy-h01")
    stored = [r for r in ours(BASE_CELL) if r["split"] == "heldout" and r["template_id"] in tids]
    by_id = {it.question_id: it for it in load_mmlu()}
    qids = list(dict.fromkeys(r["question_id"] for r in stored))
    ts = load_templates()
    jobs = make_jobs([by_id[q] for q in qids], [ts.get(t) for t in tids], task="sandbagging",
                     split="heldout")
    got = {(r["question_id"], r["template_id"]): r
           for r in evaluate(load_model("smollm2", dtype="bfloat16"), jobs, scorer="letter",
                             cell=BASE_CELL)}
    bound = NEAR_TIE_MARGIN["letter"]
    firm = [r for r in stored if r["margin"] >= bound]
    assert len(stored) == 12 and len(got) == 12
    assert 1 - len(firm) / len(stored) <= MAX_NEAR_TIE_SHARE
    for r in firm:
        now = got[(r["question_id"], r["template_id"])]
        assert (decision(now), now["correct"]) == (decision(r), r["correct"]), r
        assert abs(now["margin"] - r["margin"]) < bound, r
