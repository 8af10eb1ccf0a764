"""The Markdown section of the Hugging Face export: the card in permitted wording.

Part of :mod:`acceptance_cards.export.huggingface` (its public names are
re-exported there). Markdown between ``<!-- acceptance-card:begin/end -->``
markers, so exporting again into the same README replaces it. The verdict is
stated in the wording the claim-language rules permit (SPEC §4): the section's
own prose is linted against the card with
:func:`~acceptance_cards.card.claims.lint_claim` before it is returned, and the
card author's title and remarks are linted and any finding is shown beside
them. The card's evidence provenance (:mod:`._hf_evidence`) follows the gates:
the permissive relabel beside the strict verdict, every stand-in, SafeLoRA's
facts and both calibration rulers. The stand-ins' own text is quoted from the
card (a stand-in names the part it replaces, e.g. "the paper's wrong-answer
attack"), so it is not linted as the section's wording, but each row is linted
as author text (⚠ lines, the ``stand-in`` rule aside). The section's own prose is
linted; the lines that quote author text or name forbidden phrases (the title and
remarks, the forbidden-wording line, the inputs line) are not.

Example:
    >>> from acceptance_cards.synthetic import example_card
    >>> card_section(example_card(n_resamples=200)).splitlines()[0] == BEGIN
    True
"""

from __future__ import annotations

import re
from typing import Final

from .._util.errors import InputError
from ..card.claims import applicable_rules, lint_claim, rule_forbidden
from ..card.formatting import (
    fmt_ci,
    fmt_int,
    fmt_level,
    fmt_num,
    fmt_pp,
    fmt_pp_ci,
    fmt_signed,
    gate_badge,
)
from ..card.model import Card
from ..diagnostics.power import GatePower
from ._hf_evidence import STAND_IN_INTRO, fact_lines, relabel_line, stand_in_lines
from ._hf_text import code, quoted_names

BEGIN: Final = "<!-- acceptance-card:begin -->"
END: Final = "<!-- acceptance-card:end -->"
GATE_TITLES: Final = {
    "a": ("question-clustered bootstrap", "finite-split / template noise"),
    "b": ("fresh-semantic reevaluation", "subject-split artifacts"),
    "c": ("parameter-space signature", "mechanism-label mismatch"),
    "d": ("cross-task transfer", "primary-task-only improvement"),
}
_CODE = re.compile(r"`[^`]*`")


def _mde_text(p: GatePower | None) -> str:
    if p is None:
        return ""
    return (f"; minimum detectable {fmt_signed(p.mde)} at {fmt_level(p.power)} power"
            + ("" if not p.underpowered else " (underpowered)"))


def _gate_rows(card: Card) -> list[str]:
    d = card.diagnostics
    a, b, c, x = d.a, d.b, d.c, d.d
    lvl = fmt_level(a.ci_level)
    stats = {
        "a": (f"ΔG = {fmt_signed(a.delta_gap)}",
              f"{lvl} CI {fmt_ci(a.ci_low, a.ci_high)}; {fmt_int(a.n_questions)} questions, "
              f"{fmt_int(a.n_resamples)} resamples" + _mde_text(a.power)),
        "b": (f"Δ = {fmt_signed(b.delta)}",
              f"SE paired {fmt_num(b.se_paired)}, SE independent {fmt_num(b.se_independent)}; "
              f"{fmt_int(b.n_questions)} questions" + _mde_text(b.power)),
        "c": (f"ρ_AT = {fmt_signed(c.rho)}",
              f"signed class {c.signed_class or '—'}, claimed {c.claimed_class}, "
              f"τ = {fmt_num(c.tau, digits=2)}"),
        "d": (f"Δ_x = {fmt_signed(x.delta_cross)}",
              f"SE_x {fmt_num(x.se_cross)}, SE_comb {fmt_num(x.se_combined)}"),
    }
    rows = ["| Gate | Guards against | Verdict | Statistic | Uncertainty |",
            "|---|---|---|---|---|"]
    for g in "abcd":
        title, guards = GATE_TITLES[g]
        verdict = getattr(d, g).verdict
        stat, unc = stats[g] if verdict != "not run" else ("—", "—")
        rows.append(f"| ({g}) {title} | {guards} | {gate_badge(verdict).text} | {stat} | {unc} |")
    return rows


def _lintable(text: str) -> str:
    """Text with code spans (cell names, paths, quoted phrases) blanked, offsets kept."""
    return _CODE.sub(lambda m: " " * len(m.group(0)), text)


def _head(card: Card) -> list[str]:
    """Title, verdict (with the permissive relabel beside it), permitted wording, gate table."""
    from ..card.claims import allowed_phrases

    unmet = ", ".join(f"({g})" for g in card.unmet) or "none"
    return [
        "## Acceptance Card", "",
        f"**Verdict: {card.verdict}** ({card.summary}; unmet gates: {unmet}). "
        f"Claim support: `{card.claim_support}`.", "",
        *relabel_line(card),
        "Wording this evidence permits under the Acceptance Card claim-language rules: "
        + "; ".join(f"“{p}”" for p in allowed_phrases(card)) + ".", "",
        *_gate_rows(card), "",
    ]


def _gaps_and_cost(card: Card) -> list[str]:
    bg, dg, cost = card.baseline_gap, card.defense_gap, card.deploy_cost
    prose: list[str] = []
    if bg.point is not None:
        prose += [f"Installed gap G = r_deploy − r_eval on held-out questions: baseline cell "
                  f"{code(bg.cell)} {fmt_signed(bg.point)} ({fmt_level(card.diagnostics.a.ci_level)}"
                  f" CI {fmt_ci(bg.ci_low, bg.ci_high)}), recipe cell {code(dg.cell)} "
                  f"{fmt_signed(dg.point)} (CI {fmt_ci(dg.ci_low, dg.ci_high)}).", ""]
    if cost.point is not None:
        prose += [f"Deployment-accuracy change, reported outside the gates: "
                  f"{fmt_pp(cost.point)} ({fmt_level(cost.ci_level)} CI "
                  f"{fmt_pp_ci(cost.ci_low, cost.ci_high)}).", ""]
    else:
        prose += ["Deployment-accuracy cost not measured on this card.", ""]
    return prose


def _notes(card: Card) -> list[str]:
    return [f"- {quoted_names(note)}" for note in card.notes] + ([""] if card.notes else [])


def card_section(card: Card) -> str:
    """The Markdown section (between markers) stating the card in permitted wording."""
    head, facts, stand_ins = _head(card) + _gaps_and_cost(card), fact_lines(card), stand_in_lines(card)
    if facts or stand_ins:
        head += ["### Evidence provenance", ""] + ([STAND_IN_INTRO, ""] if stand_ins else [])
    tail = facts + _notes(card)
    # the stand-ins are the card's own statement, quoted (they name the parts they replace)
    own = lint_claim(card, _lintable("\n".join(head + tail)))
    if own.findings:  # our wording must never exceed the evidence; refuse rather than write it
        raise InputError("the export would state wording this card's evidence does not permit: "
                         + "; ".join(f"{f.phrase!r} ({f.rule})" for f in own.findings)
                         + " (from a name or text on the card; rename it)")
    text = "\n".join(head + stand_ins + tail)
    end = [_forbidden_line(card), "", *_author_lines(card),
           f"Computed by acceptance-cards {card.provenance.tool_version} from "
           + (", ".join(f"{i.role} {code(i.path)} (sha256 {code(i.sha256[:12])})"
                        for i in card.provenance.inputs) or "in-memory records") + "."]
    return "\n".join([BEGIN, text, *end, END]) + "\n"


def _forbidden_line(card: Card) -> str:
    seen: dict[str, None] = {}
    for rule, _ in applicable_rules(card):
        for p in rule_forbidden(rule, card):
            seen.setdefault(p, None)
    # quoted in code spans: this line names the phrases, it does not use them
    return ("Wording this evidence does not permit: " + ", ".join(f"`{p}`" for p in seen)
            + ".") if seen else ""


def _author_lines(card: Card) -> list[str]:
    out: list[str] = []
    for label, text in ([("Title", card.title)] if card.title else []) + [
            ("Remark", r) for r in card.remarks]:
        out.append(f"- {label} (the card author's wording): {code(text)}")
        lint = lint_claim(card, text)
        for f in lint.findings:
            out.append(f"  - ⚠ {code(f.phrase)} exceeds this evidence ({f.rule}); say instead: "
                       f"{f.suggestion}")
    return out + ([""] if out else [])


__all__ = ["BEGIN", "END", "GATE_TITLES", "card_section"]
