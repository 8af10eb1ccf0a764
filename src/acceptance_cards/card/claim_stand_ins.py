"""Which wording a card's stand-ins rule out: the claim lint's ``stand-in`` rule.

A stand-in (``card.evidence.stand_ins``, :class:`~acceptance_cards.card.evidence.StandIn`)
replaces a part of the published protocol: the abstain attack for the paper's
wrong-answer attack on a near-chance model, a fine-tuned SafeLoRA reference
for an aligned/unaligned checkpoint pair. A claim about such a card may not
say the evidence followed the published protocol, nor that it used the part
the stand-in replaces.

**Which phrases a card forbids** (:func:`stand_in_forbidden`) depends only on
the stand-ins it lists:

* any stand-in, of a known kind or not, forbids :data:`PROTOCOL_PHRASES`
  ("published protocol", "the paper's protocol", "full protocol", "faithful
  reproduction", …);
* a stand-in whose ``what`` names a known kind (:data:`STAND_IN_KINDS`: one
  of the kind's ``recognise`` phrases occurs in ``what``, matched like a claim
  phrase: normalised, case-folded, word-bounded) also forbids that kind's
  wording for the real part ("wrong-answer sandbagging" for the abstain attack;
  "aligned/unaligned pair", "official SafeLoRA reference" for the reference).

A phrase that names a departure is no finding (:func:`is_disclosure`): after a
contrast (:data:`CONTRASTS`: "instead of", "rather than", "unlike", "stands in for",
"deviates from", "unable to", a negation …; an article and one verb of following
may sit between: "we did not follow the published protocol"), unless a negation
just before the contrast undoes it ("we never deviated from the published
protocol" is a claim) or a minimiser later in the clause shrinks a deviation to
nothing ("differs from the paper's attack only in its seed" is a claim); or
before "was not", "was unavailable", "could not" ("the paper's wrong-answer
attack was not used"). The rule stays conservative: a
disclosure the check does not read ("SafeLoRA needs an aligned/unaligned pair; we
had none") is flagged, and the suggestion gives wording that passes.

The kinds' ``recognise`` phrases are the words the audit writes in each
stand-in's ``what`` ("abstain attack", "SafeLoRA reference V from a stand-in
fine-tune …"), so an audit card is always recognised.

**Allowed wording** (:func:`stand_in_allowed`) names the stand-ins: one phrase
listing them as stand-ins, "not the published protocol", and one per known
kind saying what it replaces. An unrecognised stand-in is named there by its
count only: its ``what`` is author text, and allowed wording the lint itself
would flag is no allowed wording.

Example:
    >>> from acceptance_cards.card.evidence import StandIn
    >>> s = StandIn(what="abstain attack", why="near chance", affects="gates (a)-(d)")
    >>> "wrong-answer sandbagging" in stand_in_forbidden([s])
    True
    >>> stand_in_allowed([s])[0]
    'evidence with a stand-in (the abstain attack), not the published protocol'
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from .claim_text import WordIndex, normalise, phrase_regex
from .evidence import StandIn


@dataclass(frozen=True)
class StandInKind:
    """A known kind of stand-in: how its ``what`` reads and the wording it rules out."""

    id: str
    name: str  #: how the allowed wording names it
    replaces: str  #: the published part it replaces (allowed wording: "…, not <replaces>")
    recognise: tuple[str, ...]  #: any of these in a stand-in's ``what`` marks this kind
    forbidden: tuple[str, ...]  #: wording that says the real part was used


#: Names of the published protocol and claims of reproducing it (forbidden by any stand-in,
#: unless the text marks them as a departure, :func:`is_disclosure`).
PROTOCOL_PHRASES: Final = (
    "published protocol", "paper's protocol", "original protocol", "official protocol",
    "full protocol", "exact protocol", "published evaluation protocol",
    "paper's evaluation protocol", "protocol as published", "faithful reproduction",
    "faithfully reproduces", "faithful replication", "faithfully replicates",
    "exact reproduction", "exact replication",
)

#: Words that, right before a ``stand-in`` phrase (an article and one verb of following
#: between allowed), mark a departure, not a claim: "instead of the paper's attack", "we
#: did not follow the published protocol", "we were unable to run the full protocol".
CONTRASTS: Final = (
    "not", "no", "never", "without", "cannot", "instead of", "in place of", "rather than",
    "unlike", "other than", "replaces", "replace", "replaced", "replacing", "stands in for",
    "stand in for", "stood in for", "standing in for", "substitutes for", "substitute for",
    "deviates from", "deviate from", "deviated from", "deviating from", "differs from",
    "differ from", "differed from", "departs from", "depart from", "departed from", "lacks",
    "lacking", "unable to", "failed to", "fail to", "fails to",
)
#: Words that may sit between a contrast and the phrase.
_ARTICLES: Final = frozenset({"a", "an", "the", "any", "our", "its", "their", "this"})
_CONTRASTS: Final = tuple(tuple(c.split()) for c in CONTRASTS)
#: A verb of following a departure may reach over ("did not *follow* the published protocol").
_FOLLOW_VERB: Final = re.compile(
    r"(?:follow|use|using|run|ran|reproduc|replicat|implement|adopt|apply|appli)\w*")
_CLAUSE_ENDS: Final = ".;:!?,()[]\n"
_WORDS: Final = re.compile(r"[\w']+")
#: Words that undo a departure when they stand just before it ("never deviated from", "not
#: unlike", "no stand-in replaces", "nothing stands in for": claims, not disclosures).
_UNDO: Final = frozenset({"not", "no", "never", "nothing", "none", "nobody", "without"})
#: Right after a phrase: it was not used ("the paper's attack was not used", "… was unavailable").
_NOT_AFTER: Final = re.compile(
    r"\s+(?:(?:was|were|is|are|has been|have been)\s+(?:not|never|unavailable)"
    r"|(?:was|were|is|are|could|can)n't|could not|cannot|can not)\b")


#: Contrasts that say how far the evidence is from the protocol: a minimiser in their clause
#: ("differs from the paper's attack only in its seed") turns them into a claim of closeness.
_DEVIATION: Final = ("deviat", "differ", "depart")
#: Words that shrink a deviation to nothing worth disclosing.
_MINIMISERS: Final = frozenset({
    "only", "merely", "just", "solely", "barely", "slightly", "hardly", "minimally", "marginally",
    "trivially", "negligibly", "cosmetically", "superficially"})


#: Where a minimiser's reach ends after the phrase: the sentence, not a comma ("deviates from
#: the published protocol, but only in its seed" is a claim of closeness).
_SENTENCE_ENDS: Final = ".;:!?\n"


def _minimised(text: str, end: int, before: list[str]) -> bool:
    """Whether a minimiser shrinks the deviation: just before it ("merely deviates from") or
    later in its sentence ("deviates from the paper's attack only in its seed")."""
    if any(w in _MINIMISERS for w in before[-3:]):
        return True
    tail = text[end:end + 160]
    cut = min((i for i in (tail.find(ch) for ch in _SENTENCE_ENDS) if i >= 0), default=len(tail))
    return any(w in _MINIMISERS for w in _WORDS.findall(tail[:cut]))


def _clause_words(text: str, pos: int) -> list[str]:
    """The last words before ``pos`` in its clause (a hyphen splits words, not clauses)."""
    head = text[max(0, pos - 160):pos]
    cut = max(head.rfind(ch) for ch in _CLAUSE_ENDS)
    return _WORDS.findall(head[cut + 1:])[-8:]


def _undone(words: list[str]) -> bool:
    return any(w in _UNDO or w.endswith("n't") for w in words[-3:])


def is_disclosure(index: WordIndex, start: int, end: int) -> bool:
    """Whether the ``stand-in`` phrase at ``start:end`` of the normalised text names a departure.

    It does when a :data:`CONTRASTS` phrase (or an "n't" word) stands right before it in the
    same clause, an article and one verb of following allowed between, no negation just
    before the contrast undoes it, and no minimiser ("only", "merely", "slightly" …) later in
    the clause shrinks a "deviates / differs / departs from" to nothing; or when "was not",
    "was unavailable", "could not" … follows it. Naming the replaced part is what a
    disclosure must do; claiming it is what the rule forbids.

    Example:
        >>> t = "we did not follow the published protocol; we never deviated from the published protocol"
        >>> idx = WordIndex(t)
        >>> first, second = t.index("published"), t.rindex("published")
        >>> is_disclosure(idx, first, first + 18), is_disclosure(idx, second, second + 18)
        (True, False)
    """
    if _NOT_AFTER.match(index.text, end):
        return True
    before = _clause_words(index.text, start)
    if before and before[-1] in _ARTICLES:
        before.pop()
    if before and _FOLLOW_VERB.fullmatch(before[-1]):
        before.pop()
        if before and before[-1] in _ARTICLES:  # "did not use an aligned/unaligned pair"
            before.pop()
    for c in _CONTRASTS:
        if len(before) >= len(c) and tuple(before[-len(c):]) == c:
            if c[0].startswith(_DEVIATION) and _minimised(index.text, end, before[:-len(c)]):
                return False
            return not _undone(before[:-len(c)])
    return bool(before) and before[-1].endswith("n't") and not _undone(before[:-1])


#: The abstain attack (answer E under eval framing) in place of the paper's wrong-answer attack.
ABSTAIN_ATTACK: Final = StandInKind(
    id="abstain-attack", name="the abstain attack",
    replaces="the paper's wrong-answer attack",
    recognise=("abstain attack", "abstention attack"),
    forbidden=("wrong-answer sandbagging", "sandbagging with wrong answers", "wrong-answer gap",
               "wrong-answer attack", "the paper's wrong-answer attack", "the paper's attack",
               "the published attack"),
)

#: A fine-tuned reference V in place of SafeLoRA's aligned/unaligned checkpoint pair.
SAFELORA_REFERENCE: Final = StandInKind(
    id="safelora-reference", name="a stand-in SafeLoRA reference V",
    replaces="an aligned/unaligned checkpoint pair",
    recognise=("SafeLoRA reference", "Safe LoRA reference", "SafeLoRA stand-in reference",
               "Safe LoRA stand-in reference"),
    forbidden=("aligned/unaligned pair", "aligned/unaligned checkpoint pair",
               "aligned / unaligned pair", "aligned / unaligned checkpoint pair",
               "aligned-unaligned pair", "aligned and unaligned pair",
               "aligned and unaligned checkpoints", "aligned/unaligned checkpoints",
               "released reference",
               "official Safe LoRA reference", "official SafeLoRA reference",
               "Safe LoRA as published", "SafeLoRA as published"),
)

#: The known kinds, in the order their allowed wording is listed.
STAND_IN_KINDS: Final[tuple[StandInKind, ...]] = (ABSTAIN_ATTACK, SAFELORA_REFERENCE)


def stand_in_kind(stand_in: StandIn) -> StandInKind | None:
    """The known kind ``stand_in``'s ``what`` names (the first in :data:`STAND_IN_KINDS`), or None.

    Example:
        >>> stand_in_kind(StandIn(what="SafeLoRA reference V from a stand-in fine-tune",
        ...                       why="no pair", affects="gate (c)")).id
        'safelora-reference'
    """
    what = normalise(stand_in.what).text
    for kind in STAND_IN_KINDS:
        if any(phrase_regex(p).search(what) for p in kind.recognise):
            return kind
    return None


def _kinds(stand_ins: Sequence[StandIn]) -> list[StandInKind]:
    """The known kinds among ``stand_ins``, each once, in :data:`STAND_IN_KINDS` order."""
    found = {k.id for s in stand_ins if (k := stand_in_kind(s)) is not None}
    return [k for k in STAND_IN_KINDS if k.id in found]


def stand_in_forbidden(stand_ins: Sequence[StandIn]) -> tuple[str, ...]:
    """The wording ``stand_ins`` rule out (none when there are none)."""
    if not stand_ins:
        return ()
    out = list(PROTOCOL_PHRASES)
    for kind in _kinds(stand_ins):
        out += [p for p in kind.forbidden if p not in out]
    return tuple(out)


def every_stand_in_phrase() -> tuple[str, ...]:
    """Every phrase any card's stand-ins can forbid (the rule's table entry)."""
    out = list(PROTOCOL_PHRASES)
    for kind in STAND_IN_KINDS:
        out += [p for p in kind.forbidden if p not in out]
    return tuple(out)


def stand_in_allowed(stand_ins: Sequence[StandIn]) -> list[str]:
    """Wording that names the stand-ins (none when there are none)."""
    if not stand_ins:
        return []
    kinds = _kinds(stand_ins)
    unknown = sum(stand_in_kind(s) is None for s in stand_ins)
    names = [k.name for k in kinds]
    if unknown:
        names.append(f"{unknown}{' other' if kinds else ''} stated stand-in"
                     + ("s" if unknown > 1 else ""))
    noun = "a stand-in" if len(stand_ins) == 1 else "stand-ins"
    return ([f"evidence with {noun} ({', '.join(names)}), not the published protocol"]
            + [f"{k.name}, not {k.replaces}" for k in kinds])


def stand_in_evidence(stand_ins: Sequence[StandIn]) -> str | None:
    """What makes the ``stand-in`` rule apply: the stand-ins' ``what``, or None."""
    if not stand_ins:
        return None
    return "the evidence lists stand-ins for parts of the published protocol: " + "; ".join(
        s.what for s in stand_ins)


__all__ = ["ABSTAIN_ATTACK", "CONTRASTS", "PROTOCOL_PHRASES",
           "SAFELORA_REFERENCE", "STAND_IN_KINDS", "StandInKind", "is_disclosure",
           "every_stand_in_phrase", "stand_in_allowed", "stand_in_evidence", "stand_in_forbidden",
           "stand_in_kind"]
