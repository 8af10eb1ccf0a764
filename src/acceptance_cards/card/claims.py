"""The claim-language lint (SPEC §4; the paper's Appendix O).

A card says which claims its evidence supports. :func:`lint_claim` reads a
claim text (an abstract, a README paragraph) against a card and flags every
phrase the card's evidence does not permit, with the rule that forbids it and
the wording the rule allows instead.

**Rules.** Which wording each evidence pattern permits and forbids (the SPEC
table's rows, then the extensions) is :mod:`acceptance_cards.card.claim_rules`,
re-exported here; this module finds the forbidden phrases in a text. A rule's
phrases are flagged only on a card the rule applies to, and only those the rule
forbids *on that card* (:func:`~acceptance_cards.card.claim_rules.rule_forbidden`:
the ``stand-in`` rule forbids "wrong-answer sandbagging" only when the abstain
attack stands in, "aligned/unaligned pair" only when the SafeLoRA reference
does, and the protocol wording — "under the published protocol" — whenever any
stand-in is listed). A ``stand-in`` phrase that names a departure ("instead of the
paper's attack", "we did not follow the published protocol") is read like a negated
one (:func:`~acceptance_cards.card.claim_stand_ins.is_disclosure`).

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

from collections.abc import Collection
from dataclasses import dataclass
from typing import Final

from pydantic import BaseModel, ConfigDict, Field, computed_field

from .claim_rules import (
    A_AND_C,
    A_NOT_PASSED,
    ALL_FOUR,
    APPLIES,
    B_FAILS,
    COST_PLACEHOLDER,
    D_NA,
    D_NOT_RUN,
    DEPLOY_DROP,
    NON_ANSWER_GAP,
    NOT_FULL_CARD,
    ONLY_A,
    RULES,
    SCORER_SUSPECT,
    STAND_IN,
    UNDERPOWERED,
    ClaimRule,
    allowed_phrases,
    applicable_rules,
    permitted,
    rule_forbidden,
)
from .claim_stand_ins import is_disclosure
from .claim_text import WORD_VARIANTS, WordIndex, negated_before, normalise, phrase_regex
from .model import Card

#: Words that negate the phrase right after them.
NEGATIONS: Final = frozenset({"not", "no", "never", "nor", "neither", "cannot", "without",
                              "nobody", "none"})

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


@dataclass(frozen=True)
class _Hit:
    start: int  # offsets in the normalised text
    end: int
    forbidden: str
    rule: ClaimRule
    evidence: str
    negated: bool


def _hits(card: Card, norm: str, without: frozenset[str] = frozenset()) -> list[_Hit]:
    """Matches of every table phrase; only applicable rules' non-negated ones are findings.

    Negated matches of *any* rule are kept: they occupy their span, so "not a
    deployable defense" also protects the "defense" inside it. A rule's phrase
    that it does not forbid on this card (:func:`rule_forbidden`) is no finding. A
    ``stand-in`` phrase naming a departure counts as negated. Rules in ``without``
    are not matched at all (so their longer phrases hide no other rule's).
    """
    evidence = {r.id: e for r, e in applicable_rules(card)}
    here = {r.id: frozenset(rule_forbidden(r, card)) for r in RULES if r.id in evidence}
    words = WordIndex(norm)
    out: list[_Hit] = []
    for rule in (r for r in RULES if r.id not in without):
        for phrase in rule.forbidden:
            for m in phrase_regex(phrase).finditer(norm):
                negated = negated_before(words, m.start(), NEGATIONS, SKIPPABLE) or (
                    rule is STAND_IN and is_disclosure(words, m.start(), m.end()))
                if negated or phrase in here.get(rule.id, ()):
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


def lint_claim(card: Card, text: str, *, without: Collection[str] = ()) -> ClaimLint:
    """Flag every phrase of ``text`` that ``card``'s evidence does not permit.

    Matching runs on the normalised text; each finding carries the original
    span and wording. ``without``: ids of rules left out (the HF export lints a
    stand-in's own text without the ``stand-in`` rule: naming the replaced part is
    that text's purpose).

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
    for h, also in _choose(_hits(card, norm.text, frozenset(without))):
        start, end = norm.span(h.start, h.end)
        findings.append(ClaimFinding(
            phrase=text[start:end], start=start, end=end, rule=h.rule.id,
            forbidden=h.forbidden, evidence=h.evidence,
            suggestion=" / ".join(f'"{p}"' for p in permitted(h.rule, card, rules)),
            also_forbidden_by=also,
        ))
    return ClaimLint(
        verdict=card.verdict, rules=[r.id for r, _ in rules], findings=findings,
        allowed_phrases=allowed_phrases(card),
    )


__all__ = [
    "A_AND_C", "A_NOT_PASSED", "ALL_FOUR", "APPLIES", "B_FAILS", "COST_PLACEHOLDER", "DEPLOY_DROP",
    "D_NA", "D_NOT_RUN", "NEGATIONS", "NON_ANSWER_GAP", "NOT_FULL_CARD", "ONLY_A", "RULES",
    "SCORER_SUSPECT", "SKIPPABLE", "STAND_IN", "UNDERPOWERED", "WORD_VARIANTS", "ClaimFinding",
    "ClaimLint", "ClaimRule", "allowed_phrases", "applicable_rules", "lint_claim", "phrase_regex",
    "rule_forbidden",
]
