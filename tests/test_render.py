"""Card renderers: golden files, escaping, self-containment, what a reader must see.

Golden files live in ``tests/golden/``: ``card.{md,html,tex}`` for the positive
control ``example_card(seed=0, n_resamples=1000)`` and
``card_heldout_only.{md,html,tex}`` for a non-passing card (scenario
``heldout-only``, shrinkage mechanism, no cross task). After an intended change
to a renderer or to the card, regenerate them and review the diff:

    ACARD_UPDATE_GOLDEN=1 .venv/bin/python -m pytest tests/test_render.py
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest

from acceptance_cards._util.errors import InputError
from acceptance_cards.card.build import CardMetadata, build_card, build_card_from_files
from acceptance_cards.card.formatting import GATE_BADGES, fmt_pp, fmt_signed
from acceptance_cards.card.model import Card, CardOptions, card_to_json, load_card
from acceptance_cards.render import FORMATS, render, render_html, render_latex, render_markdown
from acceptance_cards.render.latex import latex_escape
from acceptance_cards.render.markdown import md_escape
from acceptance_cards.synthetic import example_card, example_mechanism, simulate_pair, simulate_rows
from helpers import write_jsonl

GOLDEN = Path(__file__).parent / "golden"
UPDATE = os.environ.get("ACARD_UPDATE_GOLDEN") == "1"
EXT = {"md": "md", "html": "html", "tex": "tex"}
MALICIOUS = "<script>alert('x')</script> & \"q\" 50% $x_1 #2 {b} ~^\\ | *e* [l](http://evil.example)"


def positive_control() -> Card:
    card: Card = example_card(seed=0, n_resamples=1000)
    return card


def heldout_only() -> Card:
    """Non-passing: (a) and (c) pass, (b) fails, (d) not run -> missing evidence."""
    b, d = simulate_pair(seed=5, scenario="heldout-only")
    return build_card(
        b, d, mechanism=example_mechanism("shrinkage"),
        options=CardOptions(seed=0, n_resamples=1000, claimed_class="shrinkage"),
        metadata=CardMetadata(
            title="Held-out-only reduction (synthetic)",
            model={"family": "SmolLM2", "base_checkpoint": "SmolLM2-135M-Instruct"},
            recipe={"name": "shrink-adamw", "optimizer": "adamw", "lora_rank": 8,
                    "learning_rate": 0.0002, "steps": 200, "attack_variant": "abstain",
                    "hyperparameters": {"shrink": 0.5, "beta": [0.9, 0.999]}},
            compute={"device": "cpu", "training_time_s": 12.5, "eval_time_s": 3.25},
            notes=("Synthetic evidence: simulated, not from a model.",),
        ),
    )


#: The evidence section of :func:`safelora_card`: stand-ins, SafeLoRA's facts, both rulers.
SAFELORA_EVIDENCE = {
    "permissive_class": "shrinkage",
    "stand_ins": [
        {"what": "abstain attack (E on eval framing)", "why": "the model is near chance, so "
         "the paper's wrong-answer attack cannot install a measurable gap",
         "affects": "gates (a)-(d): the gap is abstention, not wrong answers"},
        {"what": "SafeLoRA reference: a stand-in fine-tune", "why": "no released "
         "aligned/unaligned pair for this model", "affects": "gate (c) and the defense's gap"},
    ],
    "safelora": {"reference_origin": "stand-in fine-tune (no aligned/unaligned pair given)",
                 "v_norm": 0.125, "v_rank": 8, "reference_steps": 40, "selection": "threshold",
                 "selection_value": 0.5, "projection": "official", "n_matrices": 3,
                 "layers": [
                     {"name": "model.layers.15.self_attn.q_proj", "cos": 0.2, "kept": 0.065},
                     {"name": "model.layers.15.self_attn.v_proj", "cos": 0.4, "kept": 0.248},
                     {"name": "model.layers.16.self_attn.q_proj", "cos": 0.7, "kept": 0.8,
                      "projected": False}]},
    "calibration": {"gate_hash": "a" * 64, "gate_n": 64, "recipe_hash": None,
                    "disjoint": None},
}


def safelora_card() -> Card:
    """A SafeLoRA-like card: strict attack-targeted fails (c), the permissive relabel passes it."""
    b, d = simulate_pair(seed=5, scenario="heldout-only")
    return build_card(
        b, d, mechanism=example_mechanism("shrinkage"),
        options=CardOptions(seed=0, n_resamples=1000, claimed_class="attack-targeted"),
        metadata=CardMetadata(
            title="SafeLoRA with stand-ins (synthetic)",
            recipe={"name": "safelora", "attack_variant": "abstain"},
            notes=("Synthetic evidence: simulated, not from a model.",),
            evidence=SAFELORA_EVIDENCE,
        ),
    )


CARDS = {"card": positive_control, "card_heldout_only": heldout_only,
         "card_safelora": safelora_card}


@pytest.fixture(scope="module")
def cards() -> dict[str, Card]:
    return {name: make() for name, make in CARDS.items()}


def with_title(card: Card, title: str) -> Card:
    return card.model_copy(update={"title": title, "remarks": [title]})


def with_gate_verdict(card: Card, gate: str, verdict: str) -> Card:
    diag = card.diagnostics
    new = getattr(diag, gate).model_copy(update={"verdict": verdict, "reason": f"set to {verdict}"})
    return card.model_copy(update={"diagnostics": diag.model_copy(update={gate: new})})


# --------------------------------------------------------------------------- golden files

@pytest.mark.parametrize("name", sorted(CARDS))
@pytest.mark.parametrize("fmt", FORMATS)
def test_golden(cards: dict[str, Card], name: str, fmt: str) -> None:
    out = render(cards[name], fmt)
    path = GOLDEN / f"{name}.{EXT[fmt]}"
    if UPDATE:
        GOLDEN.mkdir(exist_ok=True)
        path.write_text(out, encoding="utf-8")
    assert path.exists(), f"missing golden {path}; run with ACARD_UPDATE_GOLDEN=1"
    assert out == path.read_text(encoding="utf-8"), (
        f"{path.name} differs from the renderer; if intended: ACARD_UPDATE_GOLDEN=1 pytest "
        "tests/test_render.py and review the diff"
    )


@pytest.mark.parametrize("fmt", FORMATS)
def test_deterministic_and_json_round_trip(cards: dict[str, Card], fmt: str,
                                           tmp_path: Path) -> None:
    card = cards["card_heldout_only"]
    p = tmp_path / "c.json"
    p.write_text(card_to_json(card), encoding="utf-8")
    again = load_card(p)
    assert render(card, fmt) == render(card, fmt) == render(again, fmt)


def test_dispatch_matches_functions_and_rejects_unknown(cards: dict[str, Card]) -> None:
    c = cards["card"]
    assert render(c, "md") == render_markdown(c)
    assert render(c, "html") == render_html(c)
    assert render(c, "tex") == render_latex(c)
    with pytest.raises(InputError, match="unknown format 'pdf'"):
        render(c, "pdf")


# --------------------------------------------------------------------------- content

def _html_escape(s: str) -> str:
    return (s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace('"', "&#34;").replace("'", "&#39;"))


ESCAPE = {"md": md_escape, "html": _html_escape, "tex": latex_escape}


def _gate_badge_in(text: str, fmt: str, gate: str) -> str:
    """The badge shown in the gate table's row of ``gate``."""
    pattern = {
        "md": rf"^\| \({gate}\) [^|]+ \| \*\*(.+?)\*\* \|",
        "html": rf'<tr id="gate-{gate}"><td>[^<]+</td><td><span class="badge [a-z-]+">(.+?)</span>',
        "tex": rf"^\({gate}\) .*?& \\textbf\{{(.+?)\}} \\\\$",
    }[fmt]
    m = re.search(pattern, text, re.M | re.S)
    assert m, (fmt, gate)
    return m.group(1)


def _texts(card: Card) -> dict[str, str]:
    return {fmt: render(card, fmt) for fmt in FORMATS}


@pytest.mark.parametrize("name", sorted(CARDS))
def test_reader_sees_every_required_field(cards: dict[str, Card], name: str) -> None:
    card = cards[name]
    a, b, c, d = (card.diagnostics.a, card.diagnostics.b, card.diagnostics.c, card.diagnostics.d)
    must = [
        card.verdict, card.summary, card.claim_support,
        # gaps with CIs
        fmt_signed(card.baseline_gap.point), fmt_signed(card.baseline_gap.ci_low),
        fmt_signed(card.baseline_gap.ci_high), fmt_signed(card.defense_gap.point),
        fmt_signed(card.defense_gap.ci_low), fmt_signed(card.defense_gap.ci_high),
        # (a): delta gap, CI, cost beside the gates (point + CI), never a gate
        fmt_signed(a.delta_gap), fmt_signed(a.ci_high), fmt_pp(card.deploy_cost.point),
        fmt_pp(card.deploy_cost.ci_low)[:-3], fmt_pp(card.deploy_cost.ci_high)[:-3],
        "never a gate",
        # (b): both SEs
        fmt_signed(b.delta), f"{b.se_paired:.4f}", f"{b.se_independent:.4f}",
        # (c): rho, classes, slice
        fmt_signed(c.rho), f"signed {c.signed_class}", card.options.claimed_class,
        "model.layers.15.self_attn.q_proj", f"{c.alpha_t:+.4f}", f"{c.alpha_a:+.4f}",
        # options
        "1,000", "95%", "0.6",
        # notes / remarks
        "Synthetic evidence",
    ]
    if d.verdict == "not run":
        must.append(d.reason)
    for fmt, text in _texts(card).items():
        for item in must:
            assert ESCAPE[fmt](item) in text, f"{fmt}: {item!r} missing"
        for g in "abcd":
            gate = getattr(card.diagnostics, g)
            assert _gate_badge_in(text, fmt, g) == ESCAPE[fmt](GATE_BADGES[gate.verdict].text)
            assert ESCAPE[fmt](gate.reason) in text, (fmt, g)


def test_unmet_gates_and_rule_shown(cards: dict[str, Card]) -> None:
    card = cards["card_heldout_only"]
    assert card.unmet == ["b", "d"]
    for fmt, text in _texts(card).items():
        assert "(b) fresh-semantic reevaluation, (d) cross-task transfer" in text, fmt
        assert "2: at least one gate is not run" in text, fmt
    assert "Unmet gates: none" in render_markdown(cards["card"])


def test_cross_task_fields_and_capability_flag() -> None:
    b, d = simulate_pair(seed=1)
    xb, xd = simulate_pair(seed=3, scenario="no-gap", task="sycophancy")
    card = build_card(b, d, cross_baseline=xb, cross_defense=xd,
                      options=CardOptions(n_resamples=300))
    assert card.diagnostics.d.verdict == "n/a"
    cap = [card.capability[0].model_copy(update={"gap_from_malformed": True}), card.capability[1]]
    card = card.model_copy(update={"capability": cap})
    for fmt, text in _texts(card).items():
        assert "installable" in text and "degenerate" in text, fmt
        assert "n/a by construction" in text, fmt
        assert "carried by non-answers" in text, fmt
        assert "1.000" in text, fmt  # valid rates
        assert fmt_signed(card.diagnostics.d.baseline_gap) in text, fmt


def test_provenance_inputs_with_sha256(tmp_path: Path) -> None:
    rows_b, rows_d = simulate_rows(seed=2, n_heldout=12, n_fresh=20)
    pb = write_jsonl(tmp_path / "base.jsonl", rows_b)
    pd = write_jsonl(tmp_path / "def.jsonl", rows_d)
    card = build_card_from_files(pb, pd, options=CardOptions(n_resamples=200),
                                 relative_to=tmp_path)
    assert len(card.provenance.inputs) == 2
    for fmt, text in _texts(card).items():
        for inp in card.provenance.inputs:
            assert inp.sha256 in text, fmt
            assert inp.role in text, fmt
        assert "base.jsonl" in text, fmt
        assert "partial: no input for (c), (d)" in text, fmt


@pytest.mark.parametrize("fmt", FORMATS)
def test_six_gate_states_visually_distinct(cards: dict[str, Card], fmt: str) -> None:
    shown = {}
    for verdict, badge in GATE_BADGES.items():
        text = render(with_gate_verdict(cards["card"], "b", verdict), fmt)
        shown[verdict] = _gate_badge_in(text, fmt, "b")
        assert shown[verdict] == ESCAPE[fmt](badge.text), (fmt, verdict)
        if fmt == "html":
            assert f'<span class="badge {badge.css}">{shown[verdict]}</span>' in text
    # distinct symbols (not colour alone) and distinct labels
    assert len({s.split()[0] for s in shown.values()}) == len(GATE_BADGES)
    assert len({b.css for b in GATE_BADGES.values()}) == len(GATE_BADGES)


# --------------------------------------------------------------------------- HTML

_VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source",
         "track", "wbr"}
_URL_ATTRS = {"src", "href", "action", "srcset", "poster", "data", "formaction", "background"}


class _Checker(HTMLParser):
    """Tracks open elements (well-formedness) and every URL-bearing attribute."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.errors: list[str] = []
        self.urls: list[str] = []
        self.tags: list[str] = []
        self.style = ""
        self._in_style = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.urls += [v or "" for k, v in attrs if k in _URL_ATTRS]
        self.errors += [f"event handler {k}" for k, _ in attrs if k.startswith("on")]
        if tag == "style":
            self._in_style = True
        if tag not in _VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag == "style":
            self._in_style = False
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes {self.stack[-1:] or 'nothing'}")
        else:
            self.stack.pop()

    def handle_data(self, data: str) -> None:
        if self._in_style:
            self.style += data


def _check_html(text: str) -> _Checker:
    p = _Checker()
    p.feed(text)
    p.close()
    return p


@pytest.mark.parametrize("name", sorted(CARDS))
def test_html_well_formed_and_self_contained(cards: dict[str, Card], name: str) -> None:
    text = render_html(cards[name])
    assert text.startswith("<!DOCTYPE html>")
    p = _check_html(text)
    assert p.errors == []
    assert p.stack == [], f"unclosed elements {p.stack}"
    # no network loads: no URL attribute points anywhere, no fetching element, no CSS fetch
    assert not any(re.match(r"\s*(https?:)?//", u, re.I) for u in p.urls), p.urls
    assert not {"script", "link", "img", "iframe", "object", "embed"} & set(p.tags)
    assert "url(" not in p.style and "@import" not in p.style and "@font-face" not in p.style
    assert "http://" not in text and "https://" not in text


def test_html_escapes_malicious_title(cards: dict[str, Card]) -> None:
    text = render_html(with_title(cards["card"], MALICIOUS))
    p = _check_html(text)
    assert "script" not in p.tags and p.errors == [] and p.stack == []
    assert "<script>" not in text
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in text
    assert "http://evil.example" in text  # shown as text, never as a link
    assert not any("evil" in u for u in p.urls)


def test_markdown_escapes_malicious_title(cards: dict[str, Card]) -> None:
    text = render_markdown(with_title(cards["card"], MALICIOUS))
    first = text.splitlines()[0]
    assert first.startswith("# Acceptance Card: \\<script>")
    assert "\\*e\\*" in first and "[l\\](http" in first and "\\|" in first
    assert not re.search(r"(?<!\\)<[A-Za-z/]", text), "an unescaped tag opener"
    # a newline in a value never breaks the table or starts a heading
    card = with_gate_verdict(cards["card"], "a", "fail").model_copy(update={"remarks": ["x\n# h"]})
    assert "\n# h" not in render_markdown(card)


def test_md_escape_keeps_intraword_underscores() -> None:
    assert md_escape("se_paired") == "se_paired"
    assert md_escape("_x_") == "\\_x\\_"
    assert md_escape("a < 0") == "a < 0"


# --------------------------------------------------------------------------- LaTeX

@pytest.mark.parametrize("raw, escaped", [
    ("_", r"\_"), ("%", r"\%"), ("&", r"\&"), ("#", r"\#"), ("$", r"\$"),
    ("{", r"\{"), ("}", r"\}"), ("~", r"\textasciitilde{}"), ("^", r"\textasciicircum{}"),
    ("\\", r"\textbackslash{}"), ("a--b", "a-{}-b"), ("\u0394", r"\ensuremath{\Delta}"),
    ("\u65e5", "[U+65E5]"), ("x\ny", "x y"),
])
def test_latex_escape_specials(raw: str, escaped: str) -> None:
    assert latex_escape(raw) == escaped


def test_latex_escapes_title_and_notes(cards: dict[str, Card]) -> None:
    text = render_latex(with_title(cards["card"], "a_b 50% R&D #1 $5"))
    assert r"\caption{Acceptance Card: a\_b 50\% R\&D \#1 \$5}" in text
    assert r"Remark & a\_b 50\% R\&D \#1 \$5 & \\" in text
    # outside \verb-free escapes, no raw special survives in the user text
    assert "a_b" not in text and "50% R" not in text


def test_latex_fragment_structure(cards: dict[str, Card]) -> None:
    text = render_latex(cards["card_heldout_only"])
    assert r"\documentclass" not in text
    for cmd in (r"\begin{tabular}", r"\toprule", r"\midrule", r"\bottomrule", r"\end{table}"):
        assert cmd in text
    for g, v in (("a", "pass"), ("b", "fail"), ("c", "pass"), ("d", "not run")):
        assert _gate_badge_in(text, "tex", g) == latex_escape(GATE_BADGES[v].text)
    cost = next(ln for ln in text.splitlines() if ln.startswith("Deployment-accuracy cost "))
    assert cost.endswith(r"& \textit{cost} \\")  # beside the gates, not a gate verdict


@pytest.mark.skipif(shutil.which("pdflatex") is None, reason="pdflatex not installed")
@pytest.mark.parametrize("title", [None, MALICIOUS + " \u0394\u03c1 \u65e5\u672c \u00e9"])
def test_latex_compiles_standalone(cards: dict[str, Card], title: str | None,
                                   tmp_path: Path) -> None:
    card = cards["card_heldout_only"] if title is None else with_title(cards["card"], title)
    (tmp_path / "card.tex").write_text(render_latex(card, standalone=True), encoding="utf-8")
    proc = subprocess.run(
        ["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "-no-shell-escape",
         "card.tex"], cwd=tmp_path, capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert (tmp_path / "card.pdf").stat().st_size > 1000


def test_a_slice_folds_its_layers_only_when_every_pattern_spans_the_same_ones() -> None:
    from acceptance_cards.render._gates import fmt_slice

    full = [f"model.layers.{i}.self_attn.{m}.weight" for i in range(30) for m in ("q_proj", "v_proj")]
    assert fmt_slice(full) == ("model.layers.N.self_attn.q_proj.weight, "
                               "model.layers.N.self_attn.v_proj.weight (60 tensors; N = 0–29)")
    gappy = [f"model.layers.{i}.mlp.up_proj.weight" for i in (0, 1, 2, 5, 9, 10)]
    assert fmt_slice(gappy).endswith("(6 tensors; N = 0–2, 5, 9–10)")
    one_layer = ["model.layers.15.self_attn.q_proj", "model.layers.15.self_attn.v_proj"]
    assert fmt_slice(one_layer) == ", ".join(one_layer)  # nothing to fold
    uneven = ["a.1.x", "a.2.x", "b.1.y"]  # b spans other layers than a: no single N
    assert fmt_slice(uneven) == "a.1.x, a.2.x, b.1.y"
    assert fmt_slice(["lm_head.weight", "a.1.x", "a.2.x"]) == "lm_head.weight, a.1.x, a.2.x"


def test_safelora_layers_are_listed_in_layer_order() -> None:
    """Text order put layer 10 before layer 2 in a 60-row table of a reference card."""
    from acceptance_cards.card.evidence import EvidenceProvenance
    from acceptance_cards.render._evidence import evidence_view
    from acceptance_cards.synthetic import example_card

    layers = [{"name": f"model.layers.{i}.self_attn.q_proj.weight", "cos": 0.3, "kept": 0.1,
               "projected": True} for i in (10, 2, 1, 0)]
    ev = EvidenceProvenance.model_validate({"safelora": {
        "reference_origin": "stand-in fine-tune", "n_matrices": 4, "layers": layers}})
    card = example_card(n_resamples=200).model_copy(update={"evidence": ev})
    rows = evidence_view(card).layers.rows
    assert [r[0].split(".")[2] for r in rows] == ["0", "1", "2", "10"]
