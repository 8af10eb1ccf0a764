"""The claim lint's ``stand-in`` rule: a card whose evidence lists stand-ins may not claim the
published protocol, nor the part a stand-in replaces (issue 15).

Cards are built by the project's builders; their stand-ins are the audit's own
(``ABSTAIN_STAND_IN`` and the entry :func:`safelora_facts` writes), so a change of
the audit's wording that the rule no longer recognises fails here.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from acceptance_cards.audit.run.evidence_facts import ABSTAIN_STAND_IN, safelora_facts
from acceptance_cards.card.build import CardMetadata, build_card
from acceptance_cards.card.claim_stand_ins import (
    ABSTAIN_ATTACK,
    PROTOCOL_PHRASES,
    SAFELORA_REFERENCE,
    STAND_IN_KINDS,
    stand_in_kind,
)
from acceptance_cards.card.claims import (
    RULES,
    STAND_IN,
    allowed_phrases,
    applicable_rules,
    lint_claim,
    rule_forbidden,
)
from acceptance_cards.card.evidence import EvidenceProvenance, StandIn
from acceptance_cards.card.model import Card, CardOptions
from acceptance_cards.synthetic import example_mechanism, simulate_pair

#: The SafeLoRA reference stand-in exactly as the audit writes it.
SAFELORA_STAND_IN: dict[str, str] = safelora_facts({
    "safelora_reference": {"origin": "stand-in fine-tune (no aligned/unaligned pair given)",
                           "steps": 40, "seed": 7, "disjoint_from_gate_calibration": True},
    "safelora_layers": {}})[1] or {}
OTHER_STAND_IN = {"what": "a smaller fresh-subject pool", "why": "few subjects",
                  "affects": "gate (b)"}


@cache
def _built(scenario: str, stand_ins: tuple[str, ...]) -> Card:
    """A card built from simulated records with the named stand-ins as its evidence."""
    by_name = {"abstain": ABSTAIN_STAND_IN, "safelora": SAFELORA_STAND_IN, "other": OTHER_STAND_IN}
    evidence: dict[str, Any] | None = (
        {"stand_ins": [by_name[s] for s in stand_ins]} if stand_ins else None)
    b, d = simulate_pair(seed=1, scenario=scenario, n_heldout=16, n_fresh=40)
    xb, xd = simulate_pair(seed=2, scenario=scenario, task="sycophancy", n_heldout=0, n_fresh=40)
    return build_card(b, d, cross_baseline=xb, cross_defense=xd,
                      mechanism=example_mechanism(), metadata=CardMetadata(evidence=evidence),
                      options=CardOptions(seed=0, n_resamples=200, claimed_class="attack-targeted"))


def card(*stand_ins: str, scenario: str = "reduction") -> Card:
    return _built(scenario, stand_ins)


def flagged(c: Card, text: str) -> list[tuple[str, str]]:
    return [(f.phrase, f.rule) for f in lint_claim(c, text).findings]


PROTOCOL_CLAIM = "The recipe was evaluated under the published protocol."


def test_the_audits_stand_ins_are_recognised() -> None:
    assert stand_in_kind(StandIn(**ABSTAIN_STAND_IN)) is ABSTAIN_ATTACK
    assert stand_in_kind(StandIn(**SAFELORA_STAND_IN)) is SAFELORA_REFERENCE
    assert stand_in_kind(StandIn(**OTHER_STAND_IN)) is None


@pytest.mark.parametrize("stand_ins", [("abstain",), ("safelora",), ("other",),
                                       ("abstain", "safelora")])
def test_published_protocol_is_flagged_when_a_stand_in_is_listed(stand_ins: tuple[str, ...]) -> None:
    c = card(*stand_ins)
    assert STAND_IN.id in [r.id for r, _ in applicable_rules(c)]
    assert flagged(c, PROTOCOL_CLAIM) == [("published protocol", "stand-in")]
    finding = lint_claim(c, PROTOCOL_CLAIM).findings[0]
    by_name = {"abstain": ABSTAIN_STAND_IN, "safelora": SAFELORA_STAND_IN, "other": OTHER_STAND_IN}
    assert all(by_name[s]["what"] in finding.evidence for s in stand_ins)
    assert "not the published protocol" in finding.suggestion


def test_published_protocol_is_clean_without_stand_ins() -> None:
    c = card()
    assert STAND_IN.id not in [r.id for r, _ in applicable_rules(c)]
    assert lint_claim(c, PROTOCOL_CLAIM).clean
    assert rule_forbidden(STAND_IN, c) == ()
    # evidence that states facts but no stand-in does not trigger the rule either
    facts_only = c.model_copy(update={"evidence": EvidenceProvenance(permissive_class="shrinkage")})
    assert lint_claim(facts_only, PROTOCOL_CLAIM).clean


@pytest.mark.parametrize(("stand_ins", "kinds"), [
    (("abstain",), {ABSTAIN_ATTACK.id}),
    (("safelora",), {SAFELORA_REFERENCE.id}),
    (("abstain", "safelora"), {ABSTAIN_ATTACK.id, SAFELORA_REFERENCE.id}),
    (("other",), set()),
])
def test_each_kind_forbids_its_own_wording_only(stand_ins: tuple[str, ...], kinds: set[str]) -> None:
    c = card(*stand_ins)
    for kind in STAND_IN_KINDS:
        for phrase in kind.forbidden:
            text = f"The evidence rests on {phrase} throughout."
            hit = [f for f in lint_claim(c, text).findings if f.rule == STAND_IN.id]
            assert bool(hit) == (kind.id in kinds), (phrase, stand_ins)
    for phrase in PROTOCOL_PHRASES:  # every stand-in forbids the protocol wording
        assert flagged(c, f"This follows the {phrase} here.")[0][1] == STAND_IN.id, phrase


@pytest.mark.parametrize("claim", [
    "We ran the paper's protocol on SmolLM2.",
    "The full protocol was run.",
    "Results under the official protocol show wrong-answer sandbagging.",
    "Safe LoRA's projection uses the official SafeLoRA reference.",
    "V comes from the aligned/unaligned pair.",
])
def test_overstating_wording_is_flagged_on_the_audit_safelora_card(claim: str) -> None:
    c = card("abstain", "safelora")
    assert any(rule == STAND_IN.id for _, rule in flagged(c, claim)), claim


@pytest.mark.parametrize("claim", [
    "This is not the published protocol: the abstain attack stands in.",
    "Not an aligned/unaligned pair; not the official SafeLoRA reference.",
    "transfer not evaluated under this protocol",
    "The sandbagging task, evaluated with the protocol of this card.",
])
def test_negated_and_neighbouring_wording_stays_clean(claim: str) -> None:
    assert flagged(card("abstain", "safelora"), claim) == []


def test_full_card_pass_under_the_protocol_stays_clean_with_stand_ins() -> None:
    c = card("abstain", "safelora")
    assert c.verdict == "full-card pass"
    assert lint_claim(c, "full-card pass under the protocol").clean
    assert lint_claim(c, "A full-card pass under the published protocol.").findings[0].phrase == (
        "published protocol")


def test_overlap_with_other_rules_reports_each_span_once() -> None:
    c = card("abstain", "safelora", scenario="heldout-only")  # not a full-card pass
    got = flagged(c, "A robust defense under the full protocol.")
    assert [p for p, _ in got] == ["robust", "defense", "full protocol"]
    assert [r for _, r in got][2] == STAND_IN.id and STAND_IN.id not in [r for _, r in got][:2]


@pytest.mark.parametrize("stand_ins", [("abstain",), ("safelora",), ("other",),
                                       ("abstain", "safelora", "other")])
def test_allowed_wording_names_the_stand_ins_and_is_clean(stand_ins: tuple[str, ...]) -> None:
    for scenario in ("reduction", "heldout-only"):
        c = card(*stand_ins, scenario=scenario)
        allowed = allowed_phrases(c)
        for p in allowed:  # allowed wording the lint flags would be no allowed wording
            assert lint_claim(c, p).clean, p
        mine = [p for p in allowed if "not the published protocol" in p]
        assert len(mine) == 1
        if "abstain" in stand_ins:
            assert "the abstain attack" in mine[0]
            assert "the abstain attack, not the paper's wrong-answer attack" in allowed
        if "safelora" in stand_ins:
            assert "a stand-in SafeLoRA reference V" in mine[0]
        if stand_ins == ("other",):  # nothing named before it: not "1 other"
            assert "(1 stated stand-in)" in mine[0]
        elif "other" in stand_ins:
            assert "1 other stated stand-in" in mine[0]


#: Stand-in texts and the kind each names, stated here rather than asked of the code under test.
_KIND_OF: dict[str, str | None] = {
    ABSTAIN_STAND_IN["what"]: "abstain-attack", SAFELORA_STAND_IN["what"]: "safelora-reference",
    "abstain attack (E on eval framing)": "abstain-attack",
    "SafeLoRA reference: a stand-in": "safelora-reference",
    "SafeLoRA stand-in reference": "safelora-reference",
    OTHER_STAND_IN["what"]: None, "a smaller calibration set": None,
}
_WHATS = st.sampled_from(sorted(_KIND_OF))


@settings(max_examples=40, deadline=None)
@given(st.lists(_WHATS, max_size=4), st.data())
def test_forbidden_wording_is_the_protocol_plus_the_listed_kinds(whats: list[str],
                                                                 data: st.DataObject) -> None:
    stand_ins = [StandIn(what=w, why="w", affects="a") for w in whats]
    c = card().model_copy(update={"evidence": EvidenceProvenance(stand_ins=stand_ins)})
    kinds = {_KIND_OF[w] for w in whats} - {None}
    expected = set(PROTOCOL_PHRASES) if stand_ins else set()
    for kind in STAND_IN_KINDS:
        if kind.id in kinds:
            expected |= set(kind.forbidden)
    assert set(rule_forbidden(STAND_IN, c)) == expected
    assert set(rule_forbidden(STAND_IN, c)) <= set(STAND_IN.forbidden)
    allowed = allowed_phrases(c)
    for p in allowed:
        assert lint_claim(c, p).clean, p
    # a phrase of the table is found after allowed wording iff this card's stand-ins forbid it
    phrase = data.draw(st.sampled_from(STAND_IN.forbidden))
    prefix = "; ".join(allowed)
    found = [f for f in lint_claim(c, f"{prefix}. We used {phrase}.").findings
             if f.rule == STAND_IN.id]
    assert [f.forbidden for f in found] == ([phrase] if phrase in expected else [])


def test_the_rule_is_last_in_precedence_and_its_table_entry_covers_every_kind() -> None:
    assert RULES[-1] is STAND_IN
    for kind in STAND_IN_KINDS:
        assert set(kind.forbidden) <= set(STAND_IN.forbidden)
    # other rules' forbidden wording is the same on every card
    c = card("abstain")
    assert all(rule_forbidden(r, c) == r.forbidden for r in RULES if r is not STAND_IN)


@pytest.mark.parametrize("text", [
    "We deviate from the published protocol in two places.",
    "The abstain attack stands in for the paper's attack.",
    "Instead of an aligned/unaligned pair, V comes from a stand-in fine-tune.",
    "We did not follow the published protocol.",
    "The paper's protocol was not followed.",
    "Rather than the paper's wrong-answer attack, the gap is installed as abstention.",
    "Unlike the published protocol, the reference V is fine-tuned here.",
    "The abstain attack replaces wrong-answer sandbagging on this near-chance model.",
    "We did not use the paper's wrong-answer attack.",
    "The paper's wrong-answer attack was not used.",
    "We didn't use the released reference.",
    "The official SafeLoRA reference was unavailable.",
    "We were unable to run the published protocol.",
    "We failed to follow the published protocol.",
    # a minimiser in another clause leaves the deviation disclosed
    "Our attack differs from the paper's attack: only abstention is installed.",
    "The evidence deviates from the published protocol in its attack and its SafeLoRA reference.",
])
def test_an_honest_disclosure_of_the_stand_ins_is_clean(text: str) -> None:
    """A disclosure must name what it departs from; naming it is not claiming it."""
    assert flagged(card("abstain", "safelora"), text) == []


@pytest.mark.parametrize(("text", "phrase"), [
    ("We follow the published protocols.", "published protocols"),
    ("This faithfully reproduced the paper.", "faithfully reproduced"),
    ("A faithful replication of the paper.", "faithful replication"),
    ("The recipe uses the paper's wrong-answer attack.", "the paper's wrong-answer attack"),
    ("V from the aligned and unaligned checkpoints.", "aligned and unaligned checkpoints"),
    ("V from an aligned / unaligned pair.", "aligned / unaligned pair"),
    ("We reproduced the paper's protocol exactly.", "paper's protocol"),
    ("The full protocol was run.", "full protocol"),
    # a negation before the contrast undoes it: these claim the published part
    ("We never deviated from the published protocol.", "published protocol"),
    ("We didn't deviate from the published protocol.", "published protocol"),
    ("Without deviating from the published protocol, we ran it.", "published protocol"),
    ("No deviations from the full protocol.", "full protocol"),
    ("No stand-in replaces the paper's wrong-answer attack.", "the paper's wrong-answer attack"),
    ("Nothing stands in for the paper's wrong-answer attack.", "the paper's wrong-answer attack"),
    ("The attack is not unlike the paper's wrong-answer attack.", "the paper's wrong-answer attack"),
    # other wording for following
    ("Identical to the published protocol.", "published protocol"),
    ("Consistent with the published protocol.", "published protocol"),
    ("Full-protocol results: all pass.", "Full-protocol"),
    ("We follow the paper's full protocol.", "full protocol"),
    ("Under their published protocol.", "published protocol"),
    ("Under the published evaluation protocol.", "published evaluation protocol"),
    ("The published protocol was faithfully followed.", "published protocol"),
    ("The full protocol has been run.", "full protocol"),
    # a minimiser in the clause shrinks a deviation to a claim of closeness
    ("Our attack differs from the paper's attack only in its seed.", "the paper's attack"),
    ("The run deviates from the published protocol only slightly.", "published protocol"),
    ("We depart from the published protocol in one detail only.", "published protocol"),
    ("It differs from the full protocol merely in the seed, so the figures hold.", "full protocol"),
    ("Our evidence merely deviates from the published protocol.", "published protocol"),
    ("It only slightly deviates from the published protocol.", "published protocol"),
    ("It deviates from the published protocol, but only in its seed.", "published protocol"),
])
def test_a_claim_of_the_published_part_is_flagged_in_its_variants(text: str, phrase: str) -> None:
    assert flagged(card("abstain", "safelora"), text) == [(phrase, STAND_IN.id)]
