"""The Hugging Face export states the card's evidence provenance (issue 15): every stand-in,
SafeLoRA's facts summary, both calibration hashes and the permissive relabel.

The SafeLoRA card is built by the project's builders from the audit's own evidence
entries (``ABSTAIN_STAND_IN``, :func:`safelora_facts`). Golden files of the section
live in ``tests/golden/hf_section_*.md``; after an intended change regenerate them and
review the diff:

    ACARD_UPDATE_GOLDEN=1 .venv/bin/python -m pytest tests/test_export_hf_evidence.py
"""

from __future__ import annotations

import os
import re
import statistics
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from acceptance_cards.audit.run.evidence_facts import ABSTAIN_STAND_IN, safelora_facts
from acceptance_cards.card.build import CardMetadata, build_card
from acceptance_cards.card.claims import lint_claim
from acceptance_cards.card.evidence import EvidenceProvenance
from acceptance_cards.card.formatting import fmt_rate
from acceptance_cards.card.model import Card, CardOptions, card_to_json, load_card
from acceptance_cards.export import huggingface
from acceptance_cards.export.huggingface import BEGIN, END, card_metadata, card_section
from acceptance_cards.synthetic import example_card, example_mechanism, simulate_pair

GOLDEN = Path(__file__).parent / "golden"
UPDATE = os.environ.get("ACARD_UPDATE_GOLDEN") == "1"
GATE_HASH, RECIPE_HASH = "a" * 64, "b" * 64

#: SafeLoRA's record as the recipe writes it in ``result.json`` (``recipe_info``).
RECIPE_INFO: dict[str, Any] = {
    "safelora_reference": {"origin": "stand-in fine-tune (no aligned/unaligned pair given)",
                           "steps": 40, "seed": 7, "disjoint_from_gate_calibration": True},
    "safelora_v_norm": 0.125, "safelora_v_rank": 8, "safelora_reference_steps": 40,
    "safelora_select": "threshold", "safelora_select_value": 0.5,
    "safelora_projection": "official",
    "safelora_layers": {
        "model.layers.14.self_attn.q_proj": {"cos": 0.1, "kept": 0.004},
        "model.layers.14.self_attn.v_proj": {"cos": 0.3, "kept": 0.065},
        "model.layers.15.self_attn.q_proj": {"cos": 0.4, "kept": 0.248},
        "model.layers.15.self_attn.v_proj": {"cos": 0.8, "kept": 0.9, "projected": False},
    },
}


def _evidence() -> dict[str, Any]:
    facts, ref = safelora_facts(RECIPE_INFO)
    assert ref is not None
    return {"stand_ins": [ABSTAIN_STAND_IN, ref], "permissive_class": "shrinkage",
            "safelora": facts,
            "calibration": {"gate_hash": GATE_HASH, "gate_n": 64, "recipe_hash": RECIPE_HASH,
                            "recipe_n": 64, "disjoint": True}}


@cache
def safelora_card() -> Card:
    """Strict attack-targeted (c) fails on a shrinkage signature; the relabel passes it."""
    b, d = simulate_pair(seed=4, scenario="reduction")
    xb, xd = simulate_pair(seed=1004, scenario="reduction", task="sycophancy")
    return build_card(b, d, cross_baseline=xb, cross_defense=xd,
                      mechanism=example_mechanism("shrinkage"),
                      options=CardOptions(seed=0, n_resamples=300, claimed_class="attack-targeted"),
                      metadata=CardMetadata(title="SafeLoRA (synthetic)", evidence=_evidence(),
                                            recipe={"name": "safelora", "attack_variant": "abstain"}))


@cache
def plain_card() -> Card:
    card: Card = example_card(n_resamples=300)
    return card


CARDS = {"hf_section_safelora": safelora_card, "hf_section_card": plain_card}


@pytest.mark.parametrize("name", sorted(CARDS))
def test_golden_section(name: str) -> None:
    out = card_section(CARDS[name]())
    path = GOLDEN / f"{name}.md"
    if UPDATE:
        path.write_text(out, encoding="utf-8")
    assert path.exists(), f"missing golden {path}; run with ACARD_UPDATE_GOLDEN=1"
    assert out == path.read_text(encoding="utf-8"), (
        f"{path.name} differs from the exporter; if intended: ACARD_UPDATE_GOLDEN=1 pytest "
        "tests/test_export_hf_evidence.py and review the diff")


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|")


def test_section_states_every_stand_in() -> None:
    card = safelora_card()
    text = card_section(card)
    assert card.evidence is not None and len(card.evidence.stand_ins) == 2
    for s in card.evidence.stand_ins:
        assert f"| {_md_cell(s.what)} | {_md_cell(s.why)} | {_md_cell(s.affects)} |" in text
    assert "abstain attack" in text and "SafeLoRA reference V from a stand-in fine-tune" in text


def test_section_summarises_safelora_without_dumping_layers() -> None:
    text = card_section(safelora_card())
    kept = [0.004, 0.065, 0.248]  # the projected matrices of RECIPE_INFO
    assert "`stand-in fine-tune (no aligned/unaligned pair given)`" in text
    assert "‖V‖_F 0.1250, rank 8, 40 reference steps" in text
    assert "`official`, selection `threshold` 0.5; 3 of 4 matrices projected" in text
    assert (f"median {fmt_rate(statistics.median(kept))} (min {fmt_rate(min(kept))}, "
            f"max {fmt_rate(max(kept))})") in text
    assert "median 0.065 (min 0.004, max 0.248)" in text
    assert "model.layers.14" not in text  # per-layer rows stay on the card


def test_section_states_both_rulers_and_the_relabel_beside_the_verdict() -> None:
    card = safelora_card()
    text = card_section(card)
    assert f"gate (c) `{GATE_HASH}` (64 items)" in text
    assert f"recipe's base-model gradients `{RECIPE_HASH}` (64 items); disjoint: yes" in text
    assert card.relabel is not None and card.relabel.verdict == "full-card pass"
    assert card.verdict == "near miss"
    verdict_at = text.index(f"**Verdict: {card.verdict}**")
    relabel_at = text.index("Permissive relabel")
    assert verdict_at < relabel_at < text.index("| Gate |")
    assert "claimed class `shrinkage`): gate (c) `✓ pass`, verdict `✓ full-card pass`" in text


def test_section_prose_is_clean_and_forbids_the_stand_in_wording() -> None:
    card = safelora_card()
    text = card_section(card)
    assert text.startswith(BEGIN) and text.rstrip().endswith(END)
    prose = text.split("Wording this evidence does not permit")[0]
    # the stand-in table quotes the card; the rest is the section's own wording
    own = "\n".join(line for line in prose.splitlines() if not line.startswith("| ") or
                    line.startswith("| (") or line.startswith("| Gate"))
    assert lint_claim(card, re.sub(r"`[^`]*`", "", own)).clean
    forbidden = text.split("Wording this evidence does not permit")[1]
    for phrase in ("published protocol", "wrong-answer sandbagging", "aligned/unaligned pair"):
        assert f"`{phrase}`" in forbidden
    assert "not the published protocol" in prose.split("| Gate |")[0]


def test_card_without_evidence_has_no_evidence_block() -> None:
    text = card_section(plain_card())
    for word in ("Evidence provenance", "Stand-ins", "Permissive relabel", "Calibration items"):
        assert word not in text
    assert "evidence" not in card_metadata(plain_card())
    assert "relabel" not in card_metadata(plain_card())


def test_metadata_carries_stand_ins_facts_rulers_and_relabel() -> None:
    card = safelora_card()
    meta = card_metadata(card)
    assert card.evidence is not None and card.relabel is not None
    ev = meta["evidence"]
    assert [s["what"] for s in ev["stand_ins"]] == [s.what for s in card.evidence.stand_ins]
    assert ev["stand_ins"][0] == ABSTAIN_STAND_IN
    assert ev["calibration"] == {"gate_hash": GATE_HASH, "gate_n": 64, "recipe_hash": RECIPE_HASH,
                                 "recipe_n": 64, "disjoint": True}
    sl = ev["safelora"]
    assert (sl["n_matrices"], sl["n_projected"]) == (4, 3)
    assert (sl["kept_median"], sl["kept_min"], sl["kept_max"]) == (0.065, 0.004, 0.248)
    assert sl["reference_origin"].startswith("stand-in fine-tune") and "layers" not in sl
    assert meta["relabel"]["verdict"] == "full-card pass" and meta["verdict"] == "near miss"
    assert meta["relabel"]["c"] == "pass" and meta["gates"]["c"] == "fail"


def test_metadata_round_trips_through_the_hub_and_a_card_file(tmp_path: Path) -> None:
    hub = pytest.importorskip("huggingface_hub")
    path = tmp_path / "card.json"
    path.write_text(card_to_json(safelora_card()), encoding="utf-8")
    card = load_card(path)  # what `acard export hf` reads
    parsed = hub.ModelCard(str(huggingface.to_model_card(card, model_name="m")))
    meta = parsed.data.to_dict()["acceptance_card"]
    assert meta["evidence"]["calibration"]["gate_hash"] == GATE_HASH
    assert meta["evidence"]["calibration"]["recipe_hash"] == RECIPE_HASH
    assert [s["what"] for s in meta["evidence"]["stand_ins"]][0] == "abstain attack"
    assert meta["relabel"]["verdict"] == "full-card pass"
    assert "SafeLoRA reference V from a stand-in fine-tune" in parsed.text


def test_public_names_stay_importable_from_huggingface() -> None:
    for name in huggingface.__all__:
        assert hasattr(huggingface, name), name
    assert {"card_section", "card_metadata", "to_model_card", "eval_results", "parse_notes",
            "write_eval_results", "check_front_matter", "BEGIN", "END"} <= set(huggingface.__all__)


def test_checkpoint_pair_reference_is_no_stand_in_and_one_ruler_reads_na() -> None:
    """Safe LoRA as published (a real pair): no reference stand-in; no layers recorded."""
    facts, ref = safelora_facts({"safelora_reference": {"origin": "checkpoint pair",
                                                        "aligned": "a/", "steps": None},
                                 "safelora_projection": "orthogonal", "safelora_layers": {}})
    assert ref is None
    evidence = {"stand_ins": [ABSTAIN_STAND_IN], "safelora": facts,
                "calibration": {"gate_hash": GATE_HASH, "gate_n": 64}}
    card = safelora_card().model_copy(update={"evidence": EvidenceProvenance.model_validate(evidence)})
    text = card_section(card)
    assert "`checkpoint pair`" in text and "no reference training steps" in text
    assert "0 of 0 matrices projected; share of the update norm kept: —" in text
    assert "recipe's base-model gradients none (the recipe reads no base-model gradients); " \
        "disjoint: n/a (one ruler)" in text
    assert "SafeLoRA reference V from a stand-in" not in text
    forbidden = text.split("Wording this evidence does not permit")[1]
    assert "`wrong-answer sandbagging`" in forbidden and "aligned/unaligned pair" not in forbidden
    meta = card_metadata(card)["evidence"]
    assert meta["safelora"]["n_projected"] == 0 and meta["safelora"]["kept_median"] is None
    assert meta["calibration"]["recipe_hash"] is None


def _with_evidence(**changes: Any) -> Card:
    ev = safelora_card().evidence
    assert ev is not None
    return safelora_card().model_copy(update={"evidence": ev.model_copy(update=changes)})


def test_a_backtick_in_author_text_stays_inside_its_code_span() -> None:
    """A backtick in SafeLoRA's reference origin once closed the code span early: the rest of
    the value was linted as the section's own wording and the export crashed."""
    ev = safelora_card().evidence
    assert ev is not None and ev.safelora is not None
    facts = ev.safelora.model_copy(update={"reference_origin": "pair ` solves safe fine-tuning"})
    text = card_section(_with_evidence(safelora=facts))
    line = next(x for x in text.splitlines() if x.startswith("- SafeLoRA reference:"))
    assert "`pair ˋ solves safe fine-tuning`" in line and line.count("`") == 2


def test_a_stand_in_row_is_linted_and_cannot_end_the_section() -> None:
    ev = safelora_card().evidence
    assert ev is not None
    odd = ev.stand_ins[0].model_copy(update={
        "why": "a deployable defense otherwise <!-- acceptance-card:end --> | x"})
    text = card_section(_with_evidence(stand_ins=[odd, *ev.stand_ins[1:]]))
    assert text.count(END) == 1 and text.rstrip().endswith(END)
    warn = [x for x in text.splitlines() if x.startswith("- ⚠ stand-in 1:")]
    assert warn and "`deployable defense`" in warn[0]
    # the row names the replaced part ("the paper's wrong-answer attack"): not a finding
    assert not any("stand-in)" in x for x in warn)
    # exporting again into the same README replaces the section, whatever the rows say
    again = huggingface.to_model_card(_with_evidence(stand_ins=[odd, *ev.stand_ins[1:]]),
                                      existing=str(huggingface.to_model_card(safelora_card())))
    # (the metadata keeps the author's text as data; the section markers live in the body)
    assert again.text.count(BEGIN) == 1 and again.text.count(END) == 1


def _abstained(rows: list[dict[str, Any]], cell: str) -> list[dict[str, Any]]:
    """The baseline under a new cell name, its eval-framed fresh records declared non-answers."""
    out = []
    for r in rows:
        r = {**r, "cell": cell}
        if r["split"] == "fresh" and r["framing"] == "eval":
            r.update(correct=0, valid=0, answer=None)
        out.append(r)
    return out


def test_a_cell_name_in_a_card_note_is_data_not_the_sections_wording() -> None:
    """A baseline cell named 'safelora-defense-s42' once made the export raise (its note's
    "defense" read as the section's own wording) — now the name is a code span."""
    from acceptance_cards.records import records_from_rows
    from acceptance_cards.synthetic import simulate_rows

    rb, rd = simulate_rows(seed=1, n_heldout=12, n_fresh=16)
    card = build_card(records_from_rows(_abstained(rb, "safelora-defense-s42")),
                      records_from_rows(rd), options=CardOptions(n_resamples=200))
    assert any("'safelora-defense-s42'" in n for n in card.notes)
    row = {**ABSTAIN_STAND_IN, "why": "The model is sandbagging with wrong answers."}
    card = card.model_copy(update={"evidence": EvidenceProvenance(stand_ins=[row])})
    text = card_section(card)
    assert "`safelora-defense-s42`" in text and "'safelora-defense-s42'" not in text
    # the stand-in rule is left out of the row's lint, so its longer phrase ("sandbagging with
    # wrong answers") no longer hides the non-answer-gap finding inside it
    warn = [x for x in text.splitlines() if x.startswith("- ⚠ stand-in 1:")]
    assert warn and "`is sandbagging`" in warn[0] and "(non-answer-gap)" in warn[0]


def test_a_backslash_before_a_pipe_cannot_split_a_stand_in_row() -> None:
    from acceptance_cards.export._hf_text import cell

    assert cell("x\\|y") == "x\\\\\\|y"  # escaped backslash, then an escaped pipe
    assert cell("<details>") == "&lt;details>"
