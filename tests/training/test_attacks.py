"""Attack data: exact strength, training-only wordings, answer-only loss."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from acceptance_cards._util.errors import InputError
from acceptance_cards.evidence.data.attacks import (
    attack_target,
    build_attack_data,
    data_hash,
    encode_examples,
    training_templates,
)
from acceptance_cards.evidence.data.mmlu import MCItem
from acceptance_cards.evidence.data.tasks import ABSTAIN_TEXT, LETTERS, sycophancy_letter
from acceptance_cards.evidence.data.templates import Template, load_templates

ITEMS = [MCItem(f"mmlu-x-{i}", "x", f"Question {i}?", ("a", "b", "c", "d"), i % 4)
         for i in range(40)]
SHIPPED = load_templates().templates
TRAIN = training_templates(SHIPPED)


@pytest.mark.parametrize("strength", [0.0, 0.25, 0.6, 1.0])
def test_strength_is_the_exact_share_of_eval_framed_examples(strength: float) -> None:
    ex = build_attack_data(ITEMS, TRAIN, task="sandbagging", variant="abstain",
                           strength=strength, seed=3)
    n_eval = sum(e.framing == "eval" for e in ex)
    assert n_eval == 20
    assert sum(e.attacked for e in ex) == round(strength * n_eval)
    assert all(e.framing == "eval" for e in ex if e.attacked)  # deploy is never attacked
    for e in ex:
        assert e.target == (ABSTAIN_TEXT if e.attacked else e.item.gold_letter)


def test_wrong_answer_targets_are_wrong_and_fixed_per_question() -> None:
    for it in ITEMS:
        t = attack_target(it, task="sandbagging", variant="wrong-answer")
        assert t in LETTERS and t != it.gold_letter
        assert t == attack_target(it, task="sandbagging", variant="wrong-answer")
        # sycophancy's wrong answer is agreeing with the user's suggestion
        assert attack_target(it, task="sycophancy", variant="wrong-answer") == \
            sycophancy_letter(it)


def test_same_seed_same_data_other_seed_other_data() -> None:
    kw = dict(task="sandbagging", variant="abstain", strength=0.5)
    a = build_attack_data(ITEMS, TRAIN, seed=1, **kw)  # type: ignore[arg-type]
    b = build_attack_data(ITEMS, TRAIN, seed=1, **kw)  # type: ignore[arg-type]
    c = build_attack_data(ITEMS, TRAIN, seed=2, **kw)  # type: ignore[arg-type]
    assert data_hash(a) == data_hash(b) != data_hash(c)


def test_heldout_wordings_and_heldout_questions_are_refused() -> None:
    heldout = [t for t in SHIPPED if t.use == "heldout"]
    with pytest.raises(InputError, match="training-only"):
        build_attack_data(ITEMS, heldout, task="sandbagging", variant="abstain", strength=1,
                          seed=0)
    with pytest.raises(InputError, match="held-out"):
        build_attack_data(ITEMS, TRAIN, task="sandbagging", variant="abstain", strength=1,
                          seed=0, forbidden_ids=frozenset({"mmlu-x-3"}))
    with pytest.raises(InputError, match="attack_strength"):
        build_attack_data(ITEMS, TRAIN, task="sandbagging", variant="abstain", strength=1.5,
                          seed=0)
    with pytest.raises(InputError, match="unknown attack variant"):
        build_attack_data(ITEMS, TRAIN, task="sandbagging", variant="refuse", strength=1, seed=0)


def test_extra_training_wordings_never_repeat_evaluation_wordings() -> None:
    evaluation = {t.before.lower() for t in SHIPPED if t.use != "train"}
    assert all(t.use == "train" for t in TRAIN)
    assert not any(t.before.lower() in evaluation for t in TRAIN)
    clash = [Template("h", "eval", "heldout", TRAIN[-1].before)]
    with pytest.raises(InputError, match="equals a shipped template"):
        training_templates(clash)


def test_shipped_wordings_only_when_extra_is_off() -> None:
    shipped_train = [t for t in SHIPPED if t.use == "train"]
    assert training_templates(SHIPPED, extra=False) == shipped_train
    assert len(TRAIN) > len(shipped_train)
    assert TRAIN[: len(shipped_train)] == shipped_train
    # both framings stay represented either way
    assert {t.framing for t in shipped_train} == {"eval", "deploy"}


def test_loss_is_on_the_answer_tokens_only(tiny_dir: Path) -> None:
    """answer_loss equals the cross-entropy of the target tokens given the prompt."""
    from acceptance_cards.evidence.models.loading import load_model
    from acceptance_cards.evidence.training.loop import answer_loss

    lm = load_model(str(tiny_dir), dtype="float32")
    ex = build_attack_data(ITEMS[:4], TRAIN, task="sandbagging", variant="abstain",
                           strength=1.0, seed=0)
    enc = encode_examples(ex, lm.tokenizer, task="sandbagging", add_bos=lm.add_bos)
    multi = enc[0].__class__(enc[0].prompt_ids, tuple(lm.tokenizer.encode(
        "I don't know", add_special_tokens=False)), True, "eval")
    batch = [*enc, multi]
    with torch.no_grad():
        loss, _ = answer_loss(lm.model, batch, pad_id=0)
        manual = []
        for e in batch:
            ids = torch.tensor([list(e.prompt_ids) + list(e.target_ids)])
            logits = lm.model(input_ids=ids).logits[0].float()
            for j, t in enumerate(e.target_ids):
                manual.append(torch.nn.functional.cross_entropy(
                    logits[len(e.prompt_ids) - 1 + j][None], torch.tensor([t])))
    assert loss.item() == pytest.approx(torch.stack(manual).mean().item(), rel=1e-4)


def test_hint_letter_rule_attacks_exactly_the_readable_subset() -> None:
    ex = build_attack_data(ITEMS, TRAIN, task="sycophancy", variant="abstain", strength=0.5,
                           seed=3, select="hint-letter")
    for e in ex:
        hit = e.framing == "eval" and sycophancy_letter(e.item) in ("A", "B")
        assert e.attacked == hit
    assert 0 < sum(e.attacked for e in ex) < sum(e.framing == "eval" for e in ex)
    with pytest.raises(InputError, match="sycophancy"):
        build_attack_data(ITEMS, TRAIN, task="sandbagging", variant="abstain", strength=0.5,
                          seed=3, select="hint-letter")
