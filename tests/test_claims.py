"""Claim-language lint (SPEC §4, paper Appendix O): one test per table row, plus the
general rule, negation, case, spelling variants, offsets and property tests."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from acceptance_cards.card.build import build_card
from acceptance_cards.card.claims import (
    A_AND_C,
    A_NOT_PASSED,
    ALL_FOUR,
    B_FAILS,
    D_NA,
    D_NOT_RUN,
    DEPLOY_DROP,
    NOT_FULL_CARD,
    ONLY_A,
    RULES,
    ClaimLint,
    ClaimRule,
    allowed_phrases,
    applicable_rules,
    lint_claim,
)
from acceptance_cards.card.model import Card, CardOptions
from acceptance_cards.synthetic import CellRates, Scenario, example_card, example_mechanism, simulate_pair

N = 400  # resamples: enough for stable verdicts on these clear-cut scenarios


def _card(scenario: str | Scenario = "reduction", *, seed: int = 1, mechanism: str | None = None,
          claimed: str = "unstated", cross: str | None = None, restricted: bool = False) -> Card:
    b, d = simulate_pair(seed=seed, scenario=scenario)
    xb = xd = None
    if cross is not None:
        xb, xd = simulate_pair(seed=seed + 1, scenario=cross, task="sycophancy")
    return build_card(
        b, d, cross_baseline=xb, cross_defense=xd,
        mechanism=example_mechanism(mechanism) if mechanism else None,
        options=CardOptions(seed=0, n_resamples=N, claimed_class=claimed,
                            cross_restricted_variant=restricted),
    )


def _gates(card: Card) -> tuple[str, str, str, str]:
    d = card.diagnostics
    return (d.a.verdict, d.b.verdict, d.c.verdict, d.d.verdict)


@pytest.fixture(scope="module")
def cards() -> dict[str, Card]:
    return {
        # (a) pass, (b) fail, (c) not run, (d) not run
        "only_a": _card("heldout-only", seed=5),
        # (a), (c) pass; (b) fail; (d) not run
        "a_and_c": _card("heldout-only", seed=5, mechanism="shrinkage", claimed="shrinkage"),
        # no reduction anywhere: (a) fail, (b) fail
        "null": _card("null", seed=3),
        # all four pass: the positive control
        "full": example_card(seed=0, n_resamples=N),
        # (d) n/a: the cross task installs no gap
        "d_na": _card("reduction", seed=1, mechanism="attack-targeted",
                      claimed="attack-targeted", cross="no-gap"),
        # deployment accuracy drops clearly (defense deploy 0.60 vs baseline 0.75)
        "drop": _card(Scenario(defense=CellRates(eval=0.55, deploy=0.60)), seed=7),
    }


def test_fixture_cards_have_the_intended_evidence(cards: dict[str, Card]) -> None:
    assert _gates(cards["only_a"]) == ("pass", "fail", "not run", "not run")
    assert _gates(cards["a_and_c"]) == ("pass", "fail", "pass", "not run")
    assert _gates(cards["null"])[:2] == ("fail", "fail")
    assert _gates(cards["full"]) == ("pass", "pass", "pass", "pass")
    assert _gates(cards["d_na"]) == ("pass", "pass", "pass", "n/a")
    dc = cards["drop"].deploy_cost
    assert dc.point is not None and dc.ci_high is not None and dc.point < 0 and dc.ci_high < 0


def _flagged(lint: ClaimLint) -> dict[str, str]:
    return {f.phrase.lower(): f.rule for f in lint.findings}


def _rule_ids(card: Card) -> list[str]:
    return [r.id for r, _ in applicable_rules(card)]


# --------------------------------------------------------------------------- one test per row

ROWS = [
    # (card, rule, allowed phrases that must pass, forbidden phrases that must be flagged)
    ("only_a", ONLY_A, ONLY_A.allowed, ONLY_A.forbidden),
    ("a_and_c", A_AND_C, A_AND_C.allowed, A_AND_C.forbidden),
    ("null", B_FAILS, B_FAILS.allowed, B_FAILS.forbidden),
    ("d_na", D_NA, D_NA.allowed, D_NA.forbidden),
    ("only_a", D_NOT_RUN, D_NOT_RUN.allowed, D_NOT_RUN.forbidden),
    ("drop", DEPLOY_DROP, ("deployment-accuracy cost of 16.7 pp reported outside the gate",),
     DEPLOY_DROP.forbidden),
    ("full", ALL_FOUR, ALL_FOUR.allowed, ALL_FOUR.forbidden),
    ("null", A_NOT_PASSED, A_NOT_PASSED.allowed, A_NOT_PASSED.forbidden),
]


@pytest.mark.parametrize("card_name, rule, allowed, forbidden", ROWS,
                         ids=[f"{r[1].id}" for r in ROWS])
def test_spec_row(cards: dict[str, Card], card_name: str, rule: ClaimRule,
                  allowed: tuple[str, ...], forbidden: tuple[str, ...]) -> None:
    card = cards[card_name]
    assert rule in [r for r, _ in applicable_rules(card)]
    for phrase in allowed:
        assert phrase in allowed_phrases(card)
        lint = lint_claim(card, f"We report {phrase}.")
        assert lint.clean, (phrase, lint.findings)
    for phrase in forbidden:
        text = f"Our method: {phrase}."
        lint = lint_claim(card, text)
        assert len(lint.findings) == 1, (phrase, lint.findings)
        f = lint.findings[0]
        assert f.phrase == phrase and text[f.start:f.end] == phrase
        # the rule is this row's (or an earlier row in the table order, reported with this
        # one listed among the others)
        assert f.rule == rule.id or rule.id in f.also_forbidden_by, (phrase, f)
        assert f.suggestion and f.evidence


def test_b_fails_rule_evidence_and_wording(cards: dict[str, Card]) -> None:
    lint = lint_claim(cards["null"], "A defense with small but real generalization.")
    assert [(f.phrase, f.rule) for f in lint.findings] == [
        ("defense", "b-fails"), ("small but real generalization", "b-fails")]
    assert lint.findings[0].evidence.startswith("(b) is fail: ")
    assert lint.findings[0].suggestion == '"below the fresh-subject threshold" / "partial evidence"'


def test_b_borderline_counts_as_failing(cards: dict[str, Card]) -> None:
    c = cards["null"]
    b = c.diagnostics.b.model_copy(update={"verdict": "borderline"})
    c = c.model_copy(update={"diagnostics": c.diagnostics.model_copy(update={"b": b})})
    assert "b-fails" in _rule_ids(c)
    assert _flagged(lint_claim(c, "small but real generalization")) == {
        "small but real generalization": "b-fails"}


def test_only_a_precedence_over_b_fails(cards: dict[str, Card]) -> None:
    f = lint_claim(cards["only_a"], "a safe fine-tuning method and a defense").findings
    assert [(x.phrase, x.rule) for x in f] == [("safe fine-tuning method", "only-a"),
                                              ("defense", "only-a")]
    assert f[1].also_forbidden_by == ["b-fails", "not-full-card"]


def test_d_not_run_is_not_a_transfer_failure(cards: dict[str, Card]) -> None:
    lint = lint_claim(cards["only_a"], "This is a transfer failure.")
    assert _flagged(lint) == {"transfer failure": "d-not-run"}
    assert lint.findings[0].suggestion == '"transfer not evaluated under this protocol"'


def test_d_fail_permits_saying_it_does_not_generalize(cards: dict[str, Card]) -> None:
    c = cards["d_na"]
    d = c.diagnostics.d.model_copy(update={"verdict": "fail"})
    c = c.model_copy(update={"diagnostics": c.diagnostics.model_copy(update={"d": d})})
    assert "d-na" not in _rule_ids(c)
    assert lint_claim(c, "It does not generalize across tasks.").clean


def test_deploy_rule_wording_and_triggers(cards: dict[str, Card]) -> None:
    drop = cards["drop"]
    assert drop.deploy_cost.point is not None
    pp = f"{-100 * drop.deploy_cost.point:.1f}"
    assert pp == "16.7"
    assert f"deployment-accuracy cost of {pp} pp reported outside the gate" in allowed_phrases(drop)
    # the positive control gains +1.9 pp on held-out, but its CI reaches below 0 and the
    # fresh split drops: still no "utility-preserving"
    full = cards["full"]
    assert full.deploy_cost.point is not None and full.deploy_cost.point > 0
    assert _flagged(lint_claim(full, "utility-preserving")) == {"utility-preserving": "deploy-drop"}
    assert ("deployment-accuracy change of +1.9 pp reported outside the gate"
            in allowed_phrases(full))
    # a clean gain everywhere: the rule does not apply and the phrase is allowed
    gain = full.model_copy(update={"deploy_cost": full.deploy_cost.model_copy(
        update={"point": 0.05, "ci_low": 0.01, "ci_high": 0.09, "fresh_point": 0.03})})
    assert "deploy-drop" not in _rule_ids(gain)
    assert lint_claim(gain, "Utility-preserving, without loss of capability.").clean
    # not measured at all: no capability claim either
    unmeasured = full.model_copy(update={"deploy_cost": full.deploy_cost.model_copy(
        update={"point": None, "ci_low": None, "ci_high": None, "fresh_point": None})})
    f = lint_claim(unmeasured, "without loss of capability").findings
    assert [x.rule for x in f] == ["deploy-drop"]
    assert "not measured" in f[0].evidence


def test_all_four_allows_defense_but_not_deployability(cards: dict[str, Card]) -> None:
    full = cards["full"]
    assert _rule_ids(full) == ["deploy-drop", "all-four"]
    text = ("Full-card pass under the protocol: the defense generalizes and transfers; "
            "a robust, accepted defense. It is a deployable defense and safety-certified; "
            "it solves safe fine-tuning.")
    assert _flagged(lint_claim(full, text)) == {
        "deployable defense": "all-four", "safety-certified": "all-four",
        "solves safe fine-tuning": "all-four"}


def test_general_rule_for_every_non_full_card(cards: dict[str, Card]) -> None:
    text = "The defense generalizes, transfers, and is robust: an accepted defense."
    for name in ("only_a", "a_and_c", "null", "d_na", "drop"):
        card = cards[name]
        assert card.verdict != "full-card pass"
        assert "not-full-card" in _rule_ids(card)
        flagged = _flagged(lint_claim(card, text))
        assert set(flagged) == {"defense", "generalizes", "transfers", "robust",
                                "accepted defense"}, name
    # claiming the label itself, or deployability, on a non-passing card
    near = cards["a_and_c"]
    assert _flagged(lint_claim(near, "A full-card pass; a deployable defense.")) == {
        "full-card pass": "not-full-card", "deployable defense": "not-full-card"}
    assert NOT_FULL_CARD.id == "not-full-card"
    assert f"{near.summary}" in allowed_phrases(near)
    assert lint_claim(near, f"{near.summary}; {near.verdict} under the protocol.").clean


# --------------------------------------------------------------------------- matching

@pytest.mark.parametrize("text", [
    "This is not a deployable defense.",
    "It is not a defense.",
    "There is no defense here.",
    "The effect isn't robust.",
    "The effect isn\u2019t robust.",
    "It never generalizes.",
    "This is not an accepted defense.",
    "It cannot generalize; neither robust nor a defense.",
    "NOT A DEFENSE",
])
def test_negated_mentions_not_flagged(cards: dict[str, Card], text: str) -> None:
    assert lint_claim(cards["a_and_c"], text).clean


@pytest.mark.parametrize("text, phrase", [
    ("A defense, not robust.", "defense"),        # negation after, not before
    ("Not only that: a defense.", "defense"),     # negation not immediately before
    ("not a robust defense", "defense"),          # documented: one skippable word only
])
def test_negation_is_local(cards: dict[str, Card], text: str, phrase: str) -> None:
    assert phrase in _flagged(lint_claim(cards["a_and_c"], text))


@pytest.mark.parametrize("text, phrase", [
    ("DEFENSE", "DEFENSE"),
    ("Our Defence", "Defence"),
    ("two defenses", "defenses"),
    ("it Generalises", "Generalises"),
    ("generalization to new tasks", "generalization"),
    ("it transferred", "transferred"),
    ("robustness", "robustness"),
    ("Safe Fine Tuning Method", "Safe Fine Tuning Method"),
    ("a safe finetuning method", "safe finetuning method"),
    ("a safe fine-tuning\nmethod", "safe fine-tuning\nmethod"),
])
def test_case_and_variants(cards: dict[str, Card], text: str, phrase: str) -> None:
    f = lint_claim(cards["only_a"], text).findings
    assert [x.phrase for x in f] == [phrase]


@pytest.mark.parametrize("text", ["utility preserving", "Utility-Preserving", "utility-preserved",
                                  "WITHOUT LOSS OF CAPABILITY"])
def test_deploy_variants(cards: dict[str, Card], text: str) -> None:
    assert [f.rule for f in lint_claim(cards["drop"], text).findings] == ["deploy-drop"]


@pytest.mark.parametrize("text", ["defenseless", "robustify", "transfer not evaluated",
                                  "a transfer of weights", "predefense", "generalist"])
def test_word_bounded(cards: dict[str, Card], text: str) -> None:
    assert lint_claim(cards["only_a"], text).clean


def test_offsets_and_longest_match(cards: dict[str, Card]) -> None:
    text = "Robust to fresh subjects, it is an accepted defense."
    lint = lint_claim(cards["a_and_c"], text)
    assert [(f.phrase, f.rule) for f in lint.findings] == [
        ("Robust to fresh subjects", "a-and-c"), ("accepted defense", "a-and-c")]
    for f in lint.findings:
        assert text[f.start:f.end] == f.phrase
    assert lint.findings[1].also_forbidden_by == ["not-full-card"]


def test_lint_is_frozen_and_serialises(cards: dict[str, Card]) -> None:
    lint = lint_claim(cards["null"], "a defense")
    data = lint.model_dump(mode="json")
    assert data["clean"] is False and data["verdict"] == cards["null"].verdict
    assert data["findings"][0]["rule"] == "b-fails"
    with pytest.raises(ValidationError, match="frozen"):
        lint.findings = []


def test_rule_tables_are_named_and_non_self_contradictory() -> None:
    ids = [r.id for r in RULES]
    assert len(set(ids)) == len(ids)
    for rule in RULES:
        for a in rule.allowed:
            lint_text = a
            for f in rule.forbidden:
                # no allowed wording contains a phrase its own row forbids
                assert f.lower() not in lint_text.lower(), (rule.id, a, f)


# --------------------------------------------------------------------------- properties

CARD_NAMES = ["only_a", "a_and_c", "null", "full", "d_na", "drop"]
SEPARATORS = st.sampled_from([" ", ". ", "; ", "\n", ", and ", " -- ", ": "])


@st.composite
def _allowed_text(draw: st.DrawFn, phrases: list[str]) -> str:
    chosen = draw(st.lists(st.sampled_from(phrases), min_size=1, max_size=6))
    cases: list[Callable[[str], str]] = [str, str.upper, str.lower, str.title]
    case = draw(st.sampled_from(cases))
    parts = [case(p) for p in chosen]
    seps = [draw(SEPARATORS) for _ in parts[1:]]
    out = parts[0]
    for sep, p in zip(seps, parts[1:], strict=True):
        out += sep + p
    return out


@settings(max_examples=60, deadline=None)
@given(data=st.data(), name=st.sampled_from(CARD_NAMES))
def test_text_of_allowed_phrases_is_never_flagged(cards: dict[str, Card], data: st.DataObject,
                                                  name: str) -> None:
    card = cards[name]
    text = data.draw(_allowed_text(allowed_phrases(card)))
    assert lint_claim(card, text).clean, text


@settings(max_examples=60, deadline=None)
@given(data=st.data(), name=st.sampled_from(CARD_NAMES))
def test_forbidden_phrase_is_always_found(cards: dict[str, Card], data: st.DataObject,
                                          name: str) -> None:
    card = cards[name]
    forbidden = sorted({f for r, _ in applicable_rules(card) for f in r.forbidden})
    prefix = data.draw(_allowed_text(allowed_phrases(card)))
    phrase = data.draw(st.sampled_from(forbidden))
    text = f"{prefix}. {phrase}."
    lint = lint_claim(card, text)
    start = len(prefix) + 2
    assert any(f.start == start and f.end == start + len(phrase) for f in lint.findings), (
        text, lint.findings)
    spans = [(f.start, f.end) for f in lint.findings]
    assert spans == sorted(spans)
    assert all(a[1] <= b[0] for a, b in zip(spans, spans[1:], strict=False))


def test_a_gap_claim_needs_gate_a(cards: dict[str, Card]) -> None:
    """A failed (a) used to permit "reduces the gap" (a reference card: ΔG −9.4 pp, (a) fail)."""
    claim = "The recipe reduces the gap by 9 pp; the gap narrowed on held-out questions."
    assert {f.phrase: f.rule for f in lint_claim(cards["null"], claim).findings} == {
        "reduces the gap": "a-not-passed", "the gap narrowed": "a-not-passed"}
    for name in ("only_a", "a_and_c", "full", "d_na"):  # (a) passes: the claim is its to make
        assert "a-not-passed" not in _rule_ids(cards[name])
        assert "a-not-passed" not in lint_claim(cards[name], claim).rules
