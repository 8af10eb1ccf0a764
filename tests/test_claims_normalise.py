"""The claim lint cannot be dodged (issue 12 item 6): look-alike letters, invisible
characters, dash variants and fullwidth forms are caught and reported against the text
as written; negation stops at sentence boundaries; the work is linear in the text."""

from __future__ import annotations

import sys
from types import FrameType
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from acceptance_cards.card.build import build_card
from acceptance_cards.card.claim_text import CONFUSABLES, normalise
from acceptance_cards.card.claims import lint_claim
from acceptance_cards.card.model import Card, CardOptions
from acceptance_cards.synthetic import example_card, simulate_pair


@pytest.fixture(scope="module")
def full() -> Card:
    """All four gates pass: forbids deployability wording; deploy-drop applies."""
    return example_card(seed=0, n_resamples=400)


@pytest.fixture(scope="module")
def null() -> Card:
    """No reduction: (a) and (b) fail, so "defense", "robust" … are forbidden."""
    b, d = simulate_pair(seed=3, scenario="null")
    return build_card(b, d, options=CardOptions(seed=0, n_resamples=400))


DODGES = [
    # (name, text as written, the finding's span text)
    ("cyrillic e", "A d\u0435f\u0435ns\u0435 it is.", "d\u0435f\u0435ns\u0435"),
    ("cyrillic a, o", "an \u0430ccepted defense", "\u0430ccepted defense"),
    ("greek omicron", "It is r\u03bfbust.", "r\u03bfbust"),
    ("cyrillic capital", "A D\u0415FEN\u0421E.", "D\u0415FEN\u0421E"),
    ("greek capitals", "A D\u0395FE\u039dSE.", "D\u0395FE\u039dSE"),  # Ν folds to ν ("v")
    ("soft hyphen", "a de\u00adfense", "de\u00adfense"),
    ("zero-width space", "a def\u200bense", "def\u200bense"),
    ("zero-width joiner + word joiner", "a de\u200dfen\u2060se", "de\u200dfen\u2060se"),
    ("fullwidth", "a \uff44\uff45\uff46\uff45\uff4e\uff53\uff45.",
     "\uff44\uff45\uff46\uff45\uff4e\uff53\uff45"),
    ("math bold", "a \U0001d41d\U0001d41e\U0001d41f\U0001d41e\U0001d427\U0001d42c\U0001d41e",
     "\U0001d41d\U0001d41e\U0001d41f\U0001d41e\U0001d427\U0001d42c\U0001d41e"),
    ("combining accent", "a de\u0301fense", "de\u0301fense"),
    ("no-break space", "an accepted\u00a0defense", "accepted\u00a0defense"),
    ("ideographic space + newline", "an accepted \u3000\n defense", "accepted \u3000\n defense"),
]


@pytest.mark.parametrize("text, span", [d[1:] for d in DODGES], ids=[d[0] for d in DODGES])
def test_each_dodge_is_caught_with_its_original_span(null: Card, text: str, span: str) -> None:
    f = lint_claim(null, text).findings
    assert [x.phrase for x in f] == [span], f
    assert text[f[0].start:f[0].end] == span


DASH_DODGES = ["utility\u2013preserving", "utility\u2014preserving", "utility\u2010preserving",
               "utility\u2011preserving", "utility\u2212preserving", "utility\uff0dpreserving",
               "utility \u2014 preserving", "utility\u00ad-preserving"]


@pytest.mark.parametrize("phrase", DASH_DODGES)
def test_dash_variants_are_caught(full: Card, phrase: str) -> None:
    text = f"The update is {phrase}."
    f = lint_claim(full, text).findings
    assert [(x.phrase, x.rule) for x in f] == [(phrase, "deploy-drop")]
    assert text[f[0].start:f[0].end] == phrase


def test_dodges_in_multiword_deployability_phrases(full: Card) -> None:
    text = "A d\u0435ployable\u2003def\u200bense; safety\u2013certified; s\u03bflves safe fine\u2014tuning."
    f = lint_claim(full, text).findings
    assert [x.rule for x in f] == ["all-four"] * 3
    assert [x.phrase for x in f] == ["d\u0435ployable\u2003def\u200bense", "safety\u2013certified",
                                     "s\u03bflves safe fine\u2014tuning"]


@pytest.mark.parametrize("text", [
    "It is not. A defense.",
    "Is it not? Defense, yes.",
    "We say no; a defense.",
    "Never! Robust.",
    "It isn't.\nA defense.",
    "not: a defense",
    "Not, a defense",
    "not \u2014 a defense",
])
def test_negation_never_reaches_across_a_boundary(null: Card, text: str) -> None:
    assert lint_claim(null, text).findings, text


@pytest.mark.parametrize("text", [
    "It is not a \u201cdefense\u201d.",
    "This is not\u00a0a\u200b defense.",
    "It is n\u043et a defense.",          # a look-alike negation still negates
    "It isn\u02bct robust.",
    "no\n\ndefense",
])
def test_negation_across_spaces_quotes_and_invisibles_still_applies(null: Card, text: str) -> None:
    assert lint_claim(null, text).clean, lint_claim(null, text).findings


def test_confusables_table_maps_only_to_ascii_letters() -> None:
    for src, dst in CONFUSABLES.items():
        assert not src.isascii() and dst.isascii() and dst.isalpha() and len(dst) == 1
        assert normalise(src).text == dst


@settings(max_examples=80, deadline=None)
@given(st.text(alphabet=st.characters(codec="utf-8"), max_size=40))
def test_normalised_offsets_point_into_the_original(text: str) -> None:
    n = normalise(text)
    assert len(n.origin) == len(n.text)
    assert list(n.origin) == sorted(n.origin)
    assert all(0 <= i < len(text) for i in n.origin)
    assert "  " not in n.text and not n.text.startswith(" ")


@settings(max_examples=60, deadline=None)
@given(pad=st.text(alphabet=" \u00ad\u200b.,;x\u2014", max_size=12))
def test_findings_spans_are_sorted_and_disjoint_in_the_original(null: Card, pad: str) -> None:
    text = f"a{pad}defense{pad}robust{pad}accepted defense{pad}"
    f = lint_claim(null, text).findings
    spans = [(x.start, x.end) for x in f]
    assert spans == sorted(spans) and all(a[1] <= b[0] for a, b in zip(spans, spans[1:], strict=False))
    assert all(text[x.start:x.end] == x.phrase for x in f)


# --------------------------------------------------------------------------- linear cost

def _line_events(card: Card, text: str) -> int:
    """Python line events executed by the lint (a timing-free count of its work)."""
    count = 0

    def tracer(frame: FrameType, event: str, arg: Any) -> Any:
        nonlocal count
        if event == "line":
            count += 1
        return tracer

    old = sys.gettrace()
    sys.settrace(tracer)
    try:
        lint_claim(card, text)
    finally:
        sys.settrace(old)
    return count


def test_lint_work_is_linear_in_text_length(null: Card) -> None:
    # dense in matches, negations and sentence boundaries: every per-match cost shows
    unit = "a robust defense, not a defense. It is not. A defense; accepted defense. "
    _line_events(null, unit)  # warm the per-character cache
    base, double, eightfold = (_line_events(null, unit * k) for k in (40, 80, 320))
    # the work added by 7 more blocks over that added by 1 more: 7 when linear, 21 when
    # quadratic (per-match rescans of the text, pairwise overlap checks)
    ratio = (eightfold - base) / (double - base)
    assert 6 < ratio < 9, ratio
