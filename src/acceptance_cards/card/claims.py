"""The claim-language lint (SPEC §4; the paper's Appendix O).

A card says which claims its evidence supports. :func:`lint_claim` reads a
claim text (an abstract, a README paragraph) against a card and flags every
phrase the card's evidence does not permit, with the rule that forbids it and
the wording the rule allows instead.

**Rules.** Each evidence pattern is one named :class:`ClaimRule` (the SPEC
table's rows in order, then ``d-not-run``, an extension: missing evidence is
not a failure either, SPEC §3; then ``underpowered``: a failed or borderline (a)
or (b) whose |ΔG| is below its minimum detectable effect may not be read as "no
effect" / "does not reduce", SPEC §10; then ``not-full-card``: any card short of a
full-card pass may not say "defense", "accepted defense", "generalizes",
"transfers", "robust", "full-card pass", nor the deployability claims). A rule
applies when its :data:`APPLIES` function returns the evidence text.
``deploy-drop`` applies when a drop is measured or cannot be excluded (held-out
Δdeploy or its CI lower bound below 0, or the fresh-split change below 0) and
when the cost was not measured at all (seed 004: no capability claim without
the capability number).

**Matching.** The claim is first normalised (:mod:`acceptance_cards.card.claim_text`:
NFKC compatibility forms, case folding, look-alike Cyrillic/Greek letters
mapped to Latin, soft hyphens and zero-width characters removed, every dash
read as a hyphen, whitespace collapsed), so "dеfense" with a Cyrillic "е",
"de\u00adfense", "utility–preserving" and fullwidth letters are all caught;
findings report the span and the wording of the text *as written*. Matching
is word-bounded. Words of a phrase may be
separated by any run of spaces or hyphens, and a hyphenated word may also be
written open or closed ("utility-preserving", "utility preserving",
"fine tuning", "finetuning"). A few words carry explicit variants
(:data:`WORD_VARIANTS`: plural, British spelling, verb forms — "defences",
"generalises", "generalization", "transferred", "robustness"). The bare noun
"transfer" is deliberately *not* a variant of "transfers": the allowed wording
"transfer not evaluated under this protocol" uses it.

**Negation.** A match is not flagged when a negation word immediately
precedes it, optionally with one article or determiner in between
(:data:`NEGATIONS`, :data:`SKIPPABLE`, or any word ending in "n't"): "not a
deployable defense", "no defense", "isn't robust" are fine, and a negated
phrase protects the phrases inside it (the "defense" of "not a deployable
defense"). Only the word right before the phrase counts: "not a robust
defense" still flags "defense" (write "not a defense"), and so does "not only
a defense". Only spaces and opening quotes may separate the words: a
negation never reaches across a sentence or clause boundary ("It is not. A
defense." flags "defense").

**Cost.** Linear in the claim's length: one normalisation pass, one regex
scan per table phrase, an O(log n) look-up of the words before each match,
and overlaps resolved on an occupancy array (``benchmarks/claims.py`` prints
the 32 KB vs 256 KB time ratio).

**Overlaps.** When phrases overlap, the longest match wins ("accepted defense"
over "defense"); a span forbidden by several rules reports the first in
:data:`RULES` order (the SPEC table order) and lists the others.

Example:
    >>> from acceptance_cards.synthetic import example_card
    >>> lint = lint_claim(example_card(), "A deployable defense. Full-card pass under the protocol.")
    >>> [(f.phrase, f.rule) for f in lint.findings]
    [('deployable defense', 'all-four')]
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Final

from pydantic import BaseModel, ConfigDict, Field, computed_field

from ..diagnostics.scorer_check import suspect_evidence
from .claim_text import WordIndex, negated_before, normalise
from .model import Card, gate_verdicts


@dataclass(frozen=True)
class ClaimRule:
    """One row of the claim-language table: an evidence pattern and its wording."""

    id: str
    pattern: str
    allowed: tuple[str, ...]
    forbidden: tuple[str, ...]


#: Placeholder in an allowed phrase, replaced by the card's deploy cost in pp.
COST_PLACEHOLDER: Final = "{cost}"

ONLY_A: Final = ClaimRule(
    id="only-a",
    pattern="only (a) passes",
    allowed=("statistically reliable gap reduction on this split",
             "the gap reduction is statistically reliable on this split"),
    forbidden=("defense", "safe fine-tuning method", "generalizes"),
)
A_AND_C: Final = ClaimRule(
    id="a-and-c",
    pattern="(a) and (c) pass",
    allowed=("reliable gap reduction with mechanism class consistent with the claim",),
    forbidden=("transfers", "robust to fresh subjects", "accepted defense"),
)
B_FAILS: Final = ClaimRule(
    id="b-fails",
    pattern="(b) fails or is borderline",
    allowed=("below the fresh-subject threshold", "partial evidence"),
    forbidden=("defense", "small but real generalization"),
)
D_NA: Final = ClaimRule(
    id="d-na",
    pattern="(d) is n/a",
    allowed=("transfer not evaluated under this protocol", "n/a by construction"),
    forbidden=("transfer failure", "does not generalize across tasks"),
)
D_NOT_RUN: Final = ClaimRule(
    id="d-not-run",
    pattern="(d) is not run",
    allowed=("transfer not evaluated under this protocol",),
    forbidden=("transfer failure", "does not generalize across tasks"),
)
DEPLOY_DROP: Final = ClaimRule(
    id="deploy-drop",
    pattern="deployment accuracy drops (or its cost was not measured)",
    allowed=(f"deployment-accuracy cost of {COST_PLACEHOLDER} reported outside the gate",),
    forbidden=("without loss of capability", "utility-preserving"),
)
ALL_FOUR: Final = ClaimRule(
    id="all-four",
    pattern="all four pass",
    allowed=("full-card pass under the protocol",),
    forbidden=("deployable defense", "safety-certified", "solves safe fine-tuning"),
)
UNDERPOWERED: Final = ClaimRule(
    id="underpowered",
    pattern="(a) or (b) fails or is borderline with |ΔG| below its minimum detectable effect",
    allowed=("underpowered: the observed change is below the minimum detectable effect",
             "inconclusive at this sample size"),
    forbidden=("no effect", "does not reduce", "doesn't reduce", "no reduction"),
)
NOT_FULL_CARD: Final = ClaimRule(
    id="not-full-card",
    pattern="not a full-card pass",
    allowed=(),  # card-specific: the card's summary and verdict, see _rule_allowed()
    forbidden=("defense", "accepted defense", "generalizes", "transfers", "robust",
               "full-card pass", "deployable defense", "safety-certified",
               "solves safe fine-tuning"),
)

#: The card says the scorer, not the model, may have made the numbers
#: (:mod:`acceptance_cards.diagnostics.scorer_check`): no wording may claim a gap moved.
SCORER_SUSPECT: Final = ClaimRule(
    id="scorer-suspect",
    pattern="a card note says to check the scorer (every framing rate 0 or 1, or answers unread)",
    allowed=("no gap measured: the scorer did not read the model's answers",),
    forbidden=("gap reduction", "reduces the gap", "reduced the gap", "closes the gap",
               "closed the gap", "removes the gap", "eliminates the gap"),
)

#: Every rule, in precedence order (the SPEC §4 table, then the general rule).
RULES: Final[tuple[ClaimRule, ...]] = (
    ONLY_A, A_AND_C, B_FAILS, D_NA, D_NOT_RUN, DEPLOY_DROP, ALL_FOUR, UNDERPOWERED,
    NOT_FULL_CARD, SCORER_SUSPECT,
)

#: Explicit spelling variants of single words (regex alternatives, lower case).
WORD_VARIANTS: Final[Mapping[str, str]] = {
    "defense": r"defen[cs]es?",
    "generalizes": r"generali[sz](?:es|e|ed|ing|ations?)",
    "generalize": r"generali[sz]e",
    "generalization": r"generali[sz]ations?",
    "transfers": r"transfer(?:s|red|ring|r?able)",
    "robust": r"robust(?:ly|ness)?",
    "method": r"methods?",
    "failure": r"failures?",
    "preserving": r"preserv(?:ing|es|ed)",
    "solves": r"solv(?:es|ed|ing|e)",
}

#: Words that negate the phrase right after them.
NEGATIONS: Final = frozenset({"not", "no", "never", "nor", "neither", "cannot", "without"})

#: Words that may sit between a negation and the phrase ("not *a* defense").
SKIPPABLE: Final = frozenset({"a", "an", "the", "any", "our", "this", "its"})


class ClaimFinding(BaseModel):
    """One phrase the card's evidence does not permit."""

    model_config = ConfigDict(frozen=True)

    phrase: str = Field(description="The text as written in the claim.")
    start: int = Field(description="Character offset where it starts.")
    end: int = Field(description="Character offset one past its end.")
    rule: str = Field(description="Id of the rule that forbids it (first in RULES order).")
    forbidden: str = Field(description="The table phrase it matched.")
    evidence: str = Field(description="What on the card makes the rule apply.")
    suggestion: str = Field(description="Wording the evidence does permit.")
    also_forbidden_by: list[str] = Field(default_factory=list)


class ClaimLint(BaseModel):
    """The lint of one claim text against one card."""

    model_config = ConfigDict(frozen=True)

    verdict: str = Field(description="The card-level verdict the claim was checked against.")
    rules: list[str] = Field(description="Ids of the rules that apply to this card.")
    findings: list[ClaimFinding]
    allowed_phrases: list[str] = Field(description="Wording this card's evidence permits.")

    @computed_field  # type: ignore[prop-decorator]
    @property
    def clean(self) -> bool:
        """True when nothing was flagged."""
        return not self.findings


def _gates(card: Card) -> dict[str, str]:
    return dict(gate_verdicts(card.diagnostics))


def _states(card: Card) -> str:
    return ", ".join(f"({k}) {v}" for k, v in _gates(card).items())


def _only_a(card: Card) -> str | None:
    g = _gates(card)
    only = g["a"] == "pass" and all(g[k] != "pass" for k in "bcd")
    return f"only (a) passes: {_states(card)}" if only else None


def _a_and_c(card: Card) -> str | None:
    g = _gates(card)
    both = g["a"] == "pass" and g["c"] == "pass" and card.verdict != "full-card pass"
    return f"(a) and (c) pass, not a full-card pass: {_states(card)}" if both else None


def _b_fails(card: Card) -> str | None:
    b = card.diagnostics.b
    return f"(b) is {b.verdict}: {b.reason}" if b.verdict in ("fail", "borderline") else None


def _d_is(state: str) -> Callable[[Card], str | None]:
    def applies(card: Card) -> str | None:
        d = card.diagnostics.d
        return f"(d) is {state}: {d.reason}" if d.verdict == state else None

    return applies


def _deploy_drop(card: Card) -> str | None:
    # imported here: the render package imports this module for the card's claim section
    from .formatting import fmt_cost

    c = card.deploy_cost
    if c.point is None:
        return "the deployment-accuracy cost was not measured ((a) not run)"
    why = []
    if c.point < 0:
        why.append("the held-out deploy accuracy drops")
    elif c.ci_low is not None and c.ci_low < 0:
        why.append("the CI of the deploy-accuracy change reaches below 0")
    if c.fresh_point is not None and c.fresh_point < 0:
        why.append(f"the fresh-split deploy accuracy drops ({100 * c.fresh_point:+.1f} pp)")
    if not why:
        return None
    return "; ".join(why) + f": Δdeploy = {fmt_cost(c.point, c.ci_low, c.ci_high, c.ci_level)}"


def _all_four(card: Card) -> str | None:
    return "all four gates pass" if card.verdict == "full-card pass" else None


def _underpowered(card: Card) -> str | None:
    # a failed gate that could not have seen an effect of the observed size is no evidence of none
    d = card.diagnostics
    weak = [f"({g}) is {x.verdict} but underpowered: |ΔG| = {abs(x.power.observed):.4f} < "
            f"minimum detectable {abs(x.power.mde):.4f} at {x.power.power:.0%} power"
            for g, x in (("a", d.a), ("b", d.b))
            if x.verdict in ("fail", "borderline") and x.power is not None and x.power.underpowered]
    return "; ".join(weak) or None


def _not_full_card(card: Card) -> str | None:
    if card.verdict == "full-card pass":
        return None
    unmet = ", ".join(f"({g})" for g in card.unmet)
    return f"card verdict is {card.verdict} ({card.summary}; unmet: {unmet})"


#: When each rule applies: a function of the card returning the evidence text, or None.
APPLIES: Final[Mapping[str, Callable[[Card], str | None]]] = {
    ONLY_A.id: _only_a, A_AND_C.id: _a_and_c, B_FAILS.id: _b_fails, D_NA.id: _d_is("n/a"),
    D_NOT_RUN.id: _d_is("not run"), DEPLOY_DROP.id: _deploy_drop, ALL_FOUR.id: _all_four,
    UNDERPOWERED.id: _underpowered, NOT_FULL_CARD.id: _not_full_card,
    SCORER_SUSPECT.id: lambda c: suspect_evidence(c.notes),
}


def applicable_rules(card: Card) -> list[tuple[ClaimRule, str]]:
    """The rules whose evidence pattern holds on ``card``, with the evidence text."""
    found = ((rule, APPLIES[rule.id](card)) for rule in RULES)
    return [(rule, evidence) for rule, evidence in found if evidence is not None]


def _rule_allowed(rule: ClaimRule, card: Card) -> list[str]:
    if rule is NOT_FULL_CARD:
        return [card.summary, f"{card.verdict} under the protocol"]
    if rule is DEPLOY_DROP:
        return [_cost_phrase(card)]
    return list(rule.allowed)


def _cost_phrase(card: Card) -> str:
    """The deploy-cost wording with the card's number (a cost is a drop, so positive)."""
    # imported here: the render package imports this module for the card's claim section
    from .formatting import fmt_pp

    point = card.deploy_cost.point
    if point is None:
        return "deployment-accuracy cost not measured on this card"
    if point < 0:
        return DEPLOY_DROP.allowed[0].replace(COST_PLACEHOLDER, fmt_pp(-point, signed=False))
    # no point drop: the rule fired on the CI or the fresh split; say what was measured
    return f"deployment-accuracy change of {fmt_pp(point)} reported outside the gate"


def _permitted(rule: ClaimRule, card: Card, rules: list[tuple[ClaimRule, str]]) -> list[str]:
    """``rule``'s allowed wording, less what a suspect scorer vetoes on this card."""
    # a card whose scorer is suspect permits no other rule's gap wording either
    if rule is SCORER_SUSPECT or not any(r is SCORER_SUSPECT for r, _ in rules):
        return _rule_allowed(rule, card)
    veto = [phrase_regex(f) for f in SCORER_SUSPECT.forbidden]
    return [p for p in _rule_allowed(rule, card) if not any(v.search(p) for v in veto)]


def allowed_phrases(card: Card) -> list[str]:
    """Every wording the card's evidence permits (deduplicated, rule order)."""
    seen: dict[str, None] = {}
    rules = applicable_rules(card)
    for rule, _ in rules:
        for p in _permitted(rule, card, rules):
            seen.setdefault(p, None)
    return list(seen)


def _word_regex(word: str) -> str:
    # a hyphenated word may be written hyphenated (also as a spaced dash), open or closed;
    # each part has its variants
    parts = word.lower().split("-")
    return r"[\s\-]*".join(WORD_VARIANTS.get(p, re.escape(p)) for p in parts)


def phrase_regex(phrase: str) -> re.Pattern[str]:
    """The case-insensitive, word-bounded pattern of a table phrase.

    Example:
        >>> bool(phrase_regex("utility-preserving").search("Utility preserving update"))
        True
        >>> bool(phrase_regex("defense").search("self-defenses"))
        True
        >>> bool(phrase_regex("transfers").search("transfer not evaluated"))
        False
    """
    words = phrase.split()
    body = r"[\s\-]+".join(_word_regex(w) for w in words)
    return re.compile(rf"(?<!\w){body}(?!\w)", re.IGNORECASE)


@dataclass(frozen=True)
class _Hit:
    start: int  # offsets in the normalised text
    end: int
    forbidden: str
    rule: ClaimRule
    evidence: str
    negated: bool


def _hits(card: Card, norm: str) -> list[_Hit]:
    """Matches of every table phrase; only applicable rules' non-negated ones are findings.

    Negated matches of *any* rule are kept: they occupy their span, so "not a
    deployable defense" also protects the "defense" inside it.
    """
    evidence = {r.id: e for r, e in applicable_rules(card)}
    words = WordIndex(norm)
    out: list[_Hit] = []
    for rule in RULES:
        for phrase in rule.forbidden:
            for m in phrase_regex(phrase).finditer(norm):
                negated = negated_before(words, m.start(), NEGATIONS, SKIPPABLE)
                if negated or rule.id in evidence:
                    out.append(_Hit(m.start(), m.end(), phrase, rule,
                                    evidence.get(rule.id, ""), negated))
    return out


def _choose(hits: list[_Hit]) -> list[tuple[_Hit, list[str]]]:
    """Non-overlapping hits, longest first; same-span hits of other rules listed as ``also``.

    Overlaps are found on an occupancy array of the text, so the cost is the
    total length of the hits (each table phrase's matches do not overlap each
    other), not the number of hit pairs.
    """
    order = {r.id: i for i, r in enumerate(RULES)}
    # longest match first, then leftmost, then negated (it protects its span), then precedence
    hits = sorted(hits, key=lambda h: (-(h.end - h.start), h.start, not h.negated,
                                       order[h.rule.id]))
    taken = bytearray(max((h.end for h in hits), default=0))
    by_span: dict[tuple[int, int], tuple[_Hit, list[str]]] = {}
    for h in hits:
        same = by_span.get((h.start, h.end))
        if same is not None:
            if (not h.negated and not same[0].negated and h.rule.id != same[0].rule.id
                    and h.rule.id not in same[1]):
                same[1].append(h.rule.id)
            continue
        if any(taken[h.start:h.end]):
            continue
        taken[h.start:h.end] = b"\x01" * (h.end - h.start)
        by_span[(h.start, h.end)] = (h, [])
    return sorted((c for c in by_span.values() if not c[0].negated), key=lambda c: c[0].start)


def lint_claim(card: Card, text: str) -> ClaimLint:
    """Flag every phrase of ``text`` that ``card``'s evidence does not permit.

    Matching runs on the normalised text; each finding carries the original
    span and wording.

    Example:
        >>> from acceptance_cards.synthetic import example_card
        >>> lint_claim(example_card(), "This is not a deployable defense.").clean
        True
        >>> [f.phrase for f in lint_claim(example_card(), "A deployable d\u0435fense.").findings]
        ['deployable dеfense']
    """
    norm = normalise(text)
    findings = []
    rules = applicable_rules(card)
    for h, also in _choose(_hits(card, norm.text)):
        start, end = norm.span(h.start, h.end)
        findings.append(ClaimFinding(
            phrase=text[start:end], start=start, end=end, rule=h.rule.id,
            forbidden=h.forbidden, evidence=h.evidence,
            suggestion=" / ".join(f'"{p}"' for p in _permitted(h.rule, card, rules)),
            also_forbidden_by=also,
        ))
    return ClaimLint(
        verdict=card.verdict, rules=[r.id for r, _ in rules], findings=findings,
        allowed_phrases=allowed_phrases(card),
    )


__all__ = [
    "A_AND_C", "ALL_FOUR", "APPLIES", "B_FAILS", "COST_PLACEHOLDER", "DEPLOY_DROP", "D_NA",
    "D_NOT_RUN", "NEGATIONS", "NOT_FULL_CARD", "ONLY_A", "RULES", "SKIPPABLE", "WORD_VARIANTS",
    "ClaimFinding", "ClaimLint", "ClaimRule", "allowed_phrases", "applicable_rules", "lint_claim",
    "phrase_regex",
    "UNDERPOWERED",
]
