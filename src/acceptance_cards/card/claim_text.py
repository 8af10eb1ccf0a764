"""Text normalisation and negation for the claim lint (:mod:`acceptance_cards.card.claims`).

A lint that a reader can dodge by typing ``dеfense`` with a Cyrillic ``е``, a
soft hyphen or a zero-width space inside a word, an en dash for a hyphen, or
fullwidth letters is no lint. So the claim text is *normalised* before the
table phrases are matched, and every finding is mapped back to the span of the
text as written.

**Normalisation** (:func:`normalise`), one original character at a time, in
this order:

1. Unicode compatibility decomposition (NFKD, the decomposing half of NFKC):
   fullwidth ``ｄｅｆｅｎｓｅ``, mathematical ``𝐝𝐞𝐟𝐞𝐧𝐬𝐞``, ligatures ``ﬁ`` and
   non-breaking or thin spaces become their plain forms;
2. case folding (``str.casefold``: ``DEFENSE``, ``ß`` → ``ss``);
3. combining marks are dropped (``de\u0301fense`` → ``defense``; accents carry
   no meaning for the table's English phrases);
4. invisible format characters (Unicode category ``Cf``: soft hyphen U+00AD,
   zero-width space/joiners U+200B–U+200D, word joiner U+2060, BOM U+FEFF,
   bidirectional controls) are removed;
5. look-alike letters map to the Latin letter they imitate (:data:`CONFUSABLES`,
   a deliberately small table: the Cyrillic and Greek letters that render like
   a Latin letter in common fonts, plus dotless ``ı``; looked up before case
   folding too, so Greek ``Ν`` reads as ``n``, not as the ``v`` of ``ν``);
6. every dash or hyphen (:data:`DASHES`) becomes ``-`` and every apostrophe
   or prime (:data:`APOSTROPHES`) becomes ``'``;
7. every run of whitespace becomes one space.

The result keeps, for each of its characters, the index of the original
character it came from (:class:`Normalised`), so a match in the normalised
text maps back to the original span (:meth:`Normalised.span`).

**Negation** (:func:`negated_before`) reads only the words right before a
match, and only across spaces and opening quotes or brackets: any other
character between the negation and the phrase — a full stop, ``;``, ``:``,
``!``, ``?``, a comma — ends its reach. So a negation never reaches across a
sentence (or clause) boundary: "It is not. A defense." flags "defense".

**Cost.** Normalisation is one pass over the text; the negation check looks
up the preceding words in an index built once (:class:`WordIndex`), so it
costs O(log n) per match instead of rescanning the text before the match.

Example:
    >>> n = normalise("A d\u0435f\u00adense\u2014utility\u2013preserving")
    >>> n.text
    'a defense-utility-preserving'
    >>> n.span(2, 9)
    (2, 10)
"""

from __future__ import annotations

import re
import unicodedata
from bisect import bisect_right
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Final

#: Look-alike letters mapped to the Latin letter they imitate, looked up before
#: and after case folding. Cyrillic а е о р с у х і ј ѕ ԁ һ ԛ ԝ ӏ, and в н к м т
#: (the case-folded forms of В Н К М Т); Greek α ο ρ ι κ ν υ χ ϳ, and the
#: capitals that look Latin (Α Β Ε Ζ Η Ι Κ Μ Ν Ο Ρ Τ Υ Χ: mapped before case
#: folding, since Ν folds to ν, which reads as "v"); Latin dotless ı, script ɡ
#: and ɑ. Small on purpose: these are the letters that render like a Latin
#: letter in common fonts; a full Unicode confusables table would also rewrite
#: letters no reader would take for Latin.
CONFUSABLES: Final[Mapping[str, str]] = {
    # Cyrillic
    "\u0430": "a", "\u0435": "e", "\u043e": "o", "\u0440": "p", "\u0441": "c",
    "\u0443": "y", "\u0445": "x", "\u0456": "i", "\u0458": "j", "\u0455": "s",
    "\u0501": "d", "\u04bb": "h", "\u051b": "q", "\u051d": "w", "\u04cf": "l",
    "\u0432": "b", "\u043d": "h", "\u043a": "k", "\u043c": "m", "\u0442": "t",
    # Greek
    "\u03b1": "a", "\u03bf": "o", "\u03c1": "p", "\u03b9": "i", "\u03ba": "k",
    "\u03bd": "v", "\u03c5": "u", "\u03c7": "x", "\u03f3": "j",
    "\u0391": "a", "\u0392": "b", "\u0395": "e", "\u0396": "z", "\u0397": "h",
    "\u0399": "i", "\u039a": "k", "\u039c": "m", "\u039d": "n", "\u039f": "o",
    "\u03a1": "p", "\u03a4": "t", "\u03a5": "y", "\u03a7": "x",
    # Latin
    "\u0131": "i", "\u0261": "g", "\u0251": "a",
}

#: Characters that read as a hyphen or dash: all become ``-``.
DASHES: Final = frozenset(
    "\u002d\u2010\u2011\u2012\u2013\u2014\u2015\u2043\u2212\u2e3a\u2e3b\ufe58\ufe63\uff0d"
)

#: Characters that read as an apostrophe (so "isn’t" negates like "isn't").
APOSTROPHES: Final = frozenset("'\u2018\u2019\u02bc\u2032\u00b4\u0060\uff07")

#: Characters allowed between a negation word and what it negates besides
#: spaces: opening quotes and brackets ("not a “defense”"). Normalised forms.
NEGATION_GAP: Final = frozenset(" \"'(\u201c\u00ab[")


@lru_cache(maxsize=4096)
def _fold(ch: str) -> str:
    """Steps 1–6 of the normalisation for one character (cached: texts repeat characters)."""
    out = []
    # look-alikes first: a Greek capital must not fold to a letter that reads otherwise
    pre = "".join(CONFUSABLES.get(c, c) for c in unicodedata.normalize("NFKD", ch))
    for c in unicodedata.normalize("NFKD", pre.casefold()):
        cat = unicodedata.category(c)
        if cat in ("Mn", "Me", "Cf"):
            continue
        if c.isspace():
            out.append(" ")
        elif c in DASHES:
            out.append("-")
        elif c in APOSTROPHES:
            out.append("'")
        else:
            out.append(CONFUSABLES.get(c, c))
    return "".join(out)


@dataclass(frozen=True)
class Normalised:
    """A normalised text and, per character, the index of its original character."""

    text: str
    origin: tuple[int, ...]
    original: str

    def span(self, start: int, end: int) -> tuple[int, int]:
        """The original span of the normalised span ``[start, end)`` (``end > start``).

        It runs from the original character of the first normalised character
        to the end of the original character of the last one, so invisible
        characters *inside* a match are part of its span.
        """
        return self.origin[start], self.origin[end - 1] + 1


def normalise(text: str) -> Normalised:
    """Normalise ``text`` for matching (see the module docstring), keeping offsets.

    Example:
        >>> normalise("ＤＥＦＥＮＳＥ  it\u2019s").text
        "defense it's"
    """
    chars: list[str] = []
    origin: list[int] = []
    space = True  # leading whitespace is dropped too
    for i, ch in enumerate(text):
        folded = _fold(ch) if not ("a" <= ch <= "z") else ch
        for c in folded:
            if c == " ":
                if space:
                    continue
                space = True
            else:
                space = False
            chars.append(c)
            origin.append(i)
    return Normalised("".join(chars), tuple(origin), text)


_WORD: Final = re.compile(r"[\w']+")


class WordIndex:
    """The words of a normalised text, indexed once for lookups before any offset."""

    def __init__(self, text: str) -> None:
        self.text = text
        spans = [(m.start(), m.end()) for m in _WORD.finditer(text)]
        self.starts = [s for s, _ in spans]
        self.ends = [e for _, e in spans]

    def words_before(self, pos: int, k: int) -> list[tuple[str, str]]:
        """Up to ``k`` words ending at or before ``pos``, nearest last, each with the gap after it.

        The gap is the text between the word and the next word (or ``pos``);
        the walk stops at a gap that is not all :data:`NEGATION_GAP` characters,
        so a word beyond a full stop is never returned.
        """
        i = bisect_right(self.ends, pos) - 1
        out: list[tuple[str, str]] = []
        nxt = pos
        while i >= 0 and len(out) < k:
            gap = self.text[self.ends[i]:nxt]
            if not _is_gap(gap):
                break
            out.append((self.text[self.starts[i]:self.ends[i]], gap))
            nxt = self.starts[i]
            i -= 1
        out.reverse()
        return out


def _is_gap(gap: str) -> bool:
    return all(c in NEGATION_GAP for c in gap)


def negated_before(index: WordIndex, pos: int, negations: Iterable[str],
                   skippable: Iterable[str]) -> bool:
    """A negation word right before ``pos`` in the same clause (one skippable word between).

    Example:
        >>> idx = WordIndex("it is not a defense. not. a defense")
        >>> negated_before(idx, 12, {"not"}, {"a"}), negated_before(idx, 28, {"not"}, {"a"})
        (True, False)
    """
    neg, skip = frozenset(negations), frozenset(skippable)
    before = [w for w, _ in index.words_before(pos, 2)]
    if before and before[-1] in skip:
        before.pop()
    return bool(before) and (before[-1] in neg or before[-1].endswith("n't"))


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
    "withholds": r"withh(?:olds|olding|old|eld)",
    "hides": r"hid(?:es|ing|den|e)?",
    "conceals": r"conceal(?:s|ed|ing)?",
    "knows": r"kn(?:ows|ew|own|ow)",
    "answer": r"answers?",
    "underperforms": r"underperform(?:s|ed|ing)?",
    "underperformance": r"underperformances?",
    "sandbags": r"sandbag(?:s|ged)",
    "feigns": r"feign(?:s|ed|ing)?",
    # the stand-in rule's phrases (card.claim_stand_ins)
    "protocol": r"protocols?",
    "reproduces": r"reproduc(?:es|e|ed|ing)",
    "replicates": r"replicat(?:es|e|ed|ing)",
    "reproduction": r"reproductions?",
    "replication": r"replications?",
    "pair": r"pairs?",
    "checkpoints": r"checkpoints?",
}


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


__all__ = ["APOSTROPHES", "CONFUSABLES", "DASHES", "NEGATION_GAP", "WORD_VARIANTS", "Normalised",
           "WordIndex", "phrase_regex",
           "negated_before", "normalise"]
