"""Which wording a card's stand-ins rule out: the claim lint's ``stand-in`` rule.

A stand-in (``card.evidence.stand_ins``, :class:`~acceptance_cards.card.evidence.StandIn`)
replaces a part of the published protocol: the abstain attack for the paper's
wrong-answer attack on a near-chance model, a fine-tuned SafeLoRA reference
for an aligned/unaligned checkpoint pair. A claim about such a card may not
say the evidence followed the published protocol, nor that it used the part
the stand-in replaces.

**Which phrases a card forbids** (:func:`stand_in_forbidden`) depends only on
the stand-ins it lists:

* any stand-in, of a known kind or not, forbids :data:`PROTOCOL_PHRASES`:
  claims of following the published protocol ("under the published protocol",
  "follows the paper's protocol", "the full protocol was run", "faithful
  reproduction" …), not its bare name, which a disclosure needs ("we deviate
  from the published protocol");
* a stand-in whose ``what`` names a known kind (:data:`STAND_IN_KINDS`: one
  of the kind's ``recognise`` phrases occurs in ``what``, matched like a claim
  phrase: normalised, case-folded, word-bounded) also forbids that kind's
  wording for the real part ("wrong-answer sandbagging" for the abstain attack;
  "aligned/unaligned pair", "official SafeLoRA reference" for the reference).

A phrase right after a contrast (:data:`CONTRASTS`: "instead of", "rather than",
"unlike", "stands in for", "deviates from", a negation …; one article may sit
between) is a disclosure and no finding (:func:`contrasted_before`): "instead of an
aligned/unaligned pair", "the abstain attack, not the paper's wrong-answer attack".

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


#: Names of the published protocol (the object of a claim of following it).
PROTOCOL_NOUNS: Final = ("published protocol", "paper's protocol", "original protocol",
                         "official protocol", "full protocol", "exact protocol")
#: What a claim of following a protocol says before its name (verb forms are word variants:
#: "follows" also matches "follow", "followed", "following").
FOLLOWING: Final = ("under the", "follows the", "per the", "according to the", "as in the",
                    "reproduces the", "replicates the", "implements the", "matches the",
                    "adheres to the", "runs the", "uses the")
#: What a passive claim of following says after the protocol's name ("was not followed" is
#: not one of them).
FOLLOWED: Final = ("was followed", "was run", "was used", "was reproduced", "was replicated",
                   "is followed")

#: Wording that says the evidence followed the published protocol (forbidden by any stand-in).
#: Claims of following, not the protocol's bare name: a disclosure must be able to say "we
#: deviate from the published protocol".
PROTOCOL_PHRASES: Final = tuple(f"{verb} {noun}" for noun in PROTOCOL_NOUNS for verb in FOLLOWING) + tuple(
    f"{noun} {done}" for noun in PROTOCOL_NOUNS for done in FOLLOWED) + (
    "protocol as published", "faithful reproduction", "faithfully reproduces",
    "faithful replication", "faithfully replicates", "exact reproduction", "exact replication",
)

#: Words that, right before a ``stand-in`` phrase (one article between allowed), make it a
#: contrast, not a claim: "instead of the paper's attack", "rather than an aligned/unaligned
#: pair", "does not follow the published protocol".
CONTRASTS: Final = (
    "not", "no", "never", "without", "instead of", "in place of", "rather than", "unlike",
    "other than", "replaces", "replace", "replaced", "replacing", "stands in for",
    "stand in for", "stood in for", "standing in for", "substitutes for", "substitute for",
    "deviates from", "deviate from", "deviated from", "deviating from", "differs from",
    "differ from", "differed from", "departs from", "depart from", "departed from", "lacks",
    "lacking",
)
#: Words that may sit between a contrast and the phrase.
_ARTICLES: Final = frozenset({"a", "an", "the", "any", "our", "its", "this"})
_CONTRASTS: Final = tuple(tuple(c.split()) for c in CONTRASTS)


def contrasted_before(index: WordIndex, pos: int) -> bool:
    """A :data:`CONTRASTS` phrase right before ``pos`` in the same clause (an article between).

    Example:
        >>> text = "instead of the paper's attack; it used the paper's attack"
        >>> idx = WordIndex(text)
        >>> contrasted_before(idx, text.index("the paper's")), contrasted_before(idx, text.rindex("the"))
        (True, False)
    """
    before = [w for w, _ in index.words_before(pos, 4)]
    if before and before[-1] in _ARTICLES:
        before.pop()
    return any(tuple(before[-len(c):]) == c for c in _CONTRASTS if len(before) >= len(c)) or (
        bool(before) and before[-1].endswith("n't"))


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


__all__ = ["ABSTAIN_ATTACK", "CONTRASTS", "FOLLOWED", "FOLLOWING", "PROTOCOL_NOUNS", "PROTOCOL_PHRASES",
           "SAFELORA_REFERENCE", "STAND_IN_KINDS", "StandInKind", "contrasted_before",
           "every_stand_in_phrase", "stand_in_allowed", "stand_in_evidence", "stand_in_forbidden",
           "stand_in_kind"]
