"""inspect_ai logs → records, on real logs written by inspect_ai (SmolLM2, HF provider)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from importer_data import ATTACKED_CELL, BASE_CELL, inspect_log

from acceptance_cards._util.errors import InputError
from acceptance_cards.records import load_records
from helpers import run_cli as run

pytest.importorskip("inspect_ai")

from acceptance_cards.importers.inspect_logs import import_inspect  # noqa: E402
from acceptance_cards.importers.mapping import parse_map_options  # noqa: E402

Rewrite = Callable[..., Path]
KEYS = ("question_id", "subject", "template_id", "framing", "split", "task")


def canon(records: Any) -> list[str]:
    """Records as an order-free list (inspect may store samples in another order)."""
    return sorted(json.dumps(r, sort_keys=True) for r in records)


def sample_ids(log: Path) -> list[Any]:
    """Sample ids in the order inspect_ai's reader yields them (what `line` counts)."""
    from inspect_ai.log import read_eval_log_samples

    return [s.id for s in read_eval_log_samples(str(log))]




@pytest.mark.parametrize("cell", [BASE_CELL, ATTACKED_CELL])
def test_round_trip_matches_inspect_samples_df(cell: str) -> None:
    """Every sample becomes one record whose fields are what inspect's own samples_df shows."""
    analysis = pytest.importorskip("inspect_ai.analysis")
    df = analysis.samples_df(str(inspect_log(cell)))
    r = import_inspect([inspect_log(cell)])
    assert r.cell == cell and r.model == cell and r.task == "sandbagging"
    assert len(r.records) == r.n_samples == len(df) == 48
    by_id = {f"{x['question_id']}::{x['template_id']}": x for x in r.records}
    for _, row in df.iterrows():
        rec = by_id[row["id"]]
        for k in KEYS:
            assert rec[k] == row[f"metadata_{k}"], (row["id"], k)
        assert rec["correct"] == (1 if row["score_pattern"] == "C" else 0)
        assert rec["gold"] == row["target"] and rec["scorer"] == "inspect:pattern"
    assert {x["split"] for x in r.records} == {"heldout", "fresh"}


def test_cli_writes_valid_records(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "r" / "base.jsonl"
    code, so, _ = run(["import", "inspect", str(inspect_log()), "-o", str(out)], capsys)
    assert code == 0 and "48 records (12 questions; fresh, heldout)" in so
    rs = load_records(out)
    assert rs.cell == BASE_CELL and len(rs) == 48 and rs.splits() == ("heldout", "fresh")
    code, so, _ = run(["import", "inspect", str(inspect_log()), "-o", str(out), "--cell",
                       "adamw-s0"], capsys)
    assert code == 0 and load_records(out).cell == "adamw-s0"


def test_json_log_imports_like_the_eval_log(rewrite_log: Rewrite) -> None:
    """The .json form (written by inspect_ai's own writer) gives identical records."""
    js = rewrite_log(fmt="json")
    assert json.loads(js.read_text())["eval"]["model"] == f"hf/{BASE_CELL}"
    assert canon(import_inspect([js]).records) == canon(import_inspect([inspect_log()]).records)


def test_fields_from_the_sample_id_when_metadata_lacks_them(rewrite_log: Rewrite) -> None:
    def strip(samples: list[Any]) -> list[Any]:
        for s in samples:
            for k in ("question_id", "template_id", "framing"):
                del s.metadata[k]
        return samples

    got = import_inspect([rewrite_log(strip)]).records
    assert canon(got) == canon(import_inspect([inspect_log()]).records)


def test_user_mapping_for_other_names(rewrite_log: Rewrite, tmp_path: Path,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    """A log with its own vocabulary imports through --map / a TOML mapping."""
    def rename(samples: list[Any]) -> list[Any]:
        for n, s in enumerate(samples):
            m = s.metadata
            s.metadata = {"qid": m["question_id"], "topic": m["subject"],
                          "prompt_variant": m["template_id"],
                          "condition": {"eval": "test", "deploy": "chat"}[m["framing"]],
                          "part": m["split"]}
            s.id = n  # ids no longer carry anything
        return samples

    log = rewrite_log(rename)
    # every unresolved field in one message, with what the sample does have
    with pytest.raises(InputError) as ei:
        import_inspect([log], task="sandbagging")
    msg = ei.value.message
    assert msg.startswith("sample '0': no split (") and ei.value.field == "split"
    for needle in ("; no subject (", "; no template id (", "; no framing (",
                   "This sample has: id=0,", "metadata.topic='abstract_algebra'",
                   "metadata.condition='chat'", "eval.task_args.samples="):
        assert needle in msg, needle
    assert "no question id" not in msg  # the plain sample id is the default question id
    maps = ["question_id=metadata.qid", "subject=metadata.topic",
            "template_id=metadata.prompt_variant",
            "framing=metadata.condition | map{test=eval, chat=deploy}", "split=metadata.part"]
    got = import_inspect([log], task="sandbagging", overrides=parse_map_options(maps))
    assert canon(got.records) == canon(import_inspect([inspect_log()]).records)
    toml = tmp_path / "map.toml"
    toml.write_text("[map]\n" + "".join(f'{m.split("=", 1)[0]} = """{m.split("=", 1)[1]}"""\n'
                                        for m in maps))
    out = tmp_path / "mapped.jsonl"
    code, _, err = run(["import", "inspect", str(log), "-o", str(out), "--task", "sandbagging",
                        "--map-file", str(toml)], capsys)
    assert code == 0, err
    assert [json.loads(x) for x in out.read_text().splitlines()] == list(got.records)


def test_epochs_are_averaged(rewrite_log: Rewrite) -> None:
    def two_epochs(samples: list[Any]) -> list[Any]:
        again = [s.model_copy(deep=True) for s in samples]
        for s in again:
            s.epoch = 2
            s.scores["pattern"].value = "C"  # the second epoch answers every item correctly
        return samples + again

    r = import_inspect([rewrite_log(two_epochs, epochs=2)])
    base = {(b["question_id"], b["template_id"]): b for b in import_inspect([inspect_log()]).records}
    assert len(r.records) == 48 and r.n_samples == 96 and "averaged" in r.notes[0]
    for x in r.records:
        assert x["correct"] == (base[(x["question_id"], x["template_id"])]["correct"] + 1) / 2
        assert x["epochs"] == 2 and "answer" not in x


def _expect(log: Path, needle: str, field: str) -> InputError:
    """The import fails naming the sample at `line` by its id, in the expected field."""
    with pytest.raises(InputError) as ei:
        import_inspect([log])
    e = ei.value
    assert needle in e.message, e.message
    assert (e.field, e.path) == (field, str(log)) and e.line is not None
    assert e.message.startswith(f"sample {str(sample_ids(log)[e.line - 1])!r}: ")
    return e


def test_no_framing_names_the_sample(rewrite_log: Rewrite) -> None:
    def drop(samples: list[Any]) -> list[Any]:
        for n, s in enumerate(samples):
            del s.metadata["framing"]
            s.id = f"item-{n}"
        return samples

    assert _expect(rewrite_log(drop), "no framing", "framing").line == 1


def test_no_question_id_names_the_sample(rewrite_log: Rewrite) -> None:
    def drop(samples: list[Any]) -> list[Any]:
        for n, s in enumerate(samples):
            del s.metadata["question_id"]
            s.id = n + 100
        return samples

    # the plain sample id is the question id now; each id is one sample, so every
    # "question" is one-sided, and the message says where question ids came from
    e = _expect(rewrite_log(drop), "question '100' has only", "framing")
    assert e.line == 1 and "Question ids are read from `metadata.question_id` or " in e.message
    assert e.message.endswith("or `id`: if that is not the same for both framings of a question, "
                              "map question_id")


def test_only_one_framing_names_the_sample(rewrite_log: Rewrite) -> None:
    only_eval = rewrite_log(lambda ss: [s for s in ss if s.metadata["framing"] == "eval"],
                            name="only-eval")
    _expect(only_eval, "every sample is eval-framed: add the deploy-framed logs of this cell to "
                      "the same import", "framing")
    # one question loses its deploy samples: that question and its first sample are named
    victim = import_inspect([inspect_log()]).records[0]["question_id"]
    one = rewrite_log(lambda ss: [s for s in ss if not (s.metadata["question_id"] == victim
                                                        and s.metadata["framing"] == "deploy")],
                      name="one-question")
    e = _expect(one, f"question {victim!r} has only eval-framed samples", "framing")
    assert sample_ids(one)[e.line - 1].startswith(f"{victim}::eval-")


def test_mixed_models_in_one_file_names_the_sample(rewrite_log: Rewrite) -> None:
    def mix(samples: list[Any]) -> list[Any]:
        samples[5].output.model = "other-model"
        return samples

    log = rewrite_log(mix)
    e = _expect(log, "one record file holds one model", "model")
    assert "'other-model'" in e.message


def test_logs_of_two_models_are_refused(capsys: pytest.CaptureFixture[str],
                                        tmp_path: Path) -> None:
    with pytest.raises(InputError) as ei:
        import_inspect([inspect_log(BASE_CELL), inspect_log(ATTACKED_CELL)])
    assert ei.value.path == str(inspect_log(ATTACKED_CELL)) and ei.value.field == "model"
    code, _, err = run(["import", "inspect", str(inspect_log(BASE_CELL)),
                        str(inspect_log(ATTACKED_CELL)), "-o", str(tmp_path / "x.jsonl")], capsys)
    assert code == 2 and "one record file holds one model" in err and "Traceback" not in err
    assert not (tmp_path / "x.jsonl").exists()


def test_heldout_and_fresh_logs_of_one_model_combine(rewrite_log: Rewrite) -> None:
    held = rewrite_log(lambda ss: [s for s in ss if s.metadata["split"] == "heldout"],
                       name="held")
    fresh = rewrite_log(lambda ss: [s for s in ss if s.metadata["split"] == "fresh"],
                        name="fresh")
    both = import_inspect([held, fresh])
    assert canon(both.records) == canon(import_inspect([inspect_log()]).records)


def test_unscored_sample_and_bad_scorer(rewrite_log: Rewrite, tmp_path: Path) -> None:
    def unscore(samples: list[Any]) -> list[Any]:
        samples[2].scores = None
        return samples

    e = _expect(rewrite_log(unscore), "no score from scorer 'pattern'", "correct")
    assert e.line is not None
    with pytest.raises(InputError, match="log has no scorer 'match'; it has pattern"):
        import_inspect([inspect_log()], scorer="match")
    junk = tmp_path / "junk.eval"
    junk.write_bytes(b"not a zip")
    with pytest.raises(InputError, match="not a readable inspect_ai log"):
        import_inspect([junk])
    with pytest.raises(InputError, match="not an inspect_ai log"):
        import_inspect([tmp_path / "log.txt"] if (tmp_path / "log.txt").write_text("x") else [])
    with pytest.raises(InputError, match="no such log file"):
        import_inspect([tmp_path / "absent.eval"])


def test_import_never_loads_torch() -> None:
    code = ("import sys; from acceptance_cards.importers.inspect_logs import import_inspect; "
            f"import_inspect([{str(inspect_log())!r}]); print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_logs_to_card_to_hugging_face(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The whole path a researcher takes: inspect logs → records → card → model card."""
    hub = pytest.importorskip("huggingface_hub")
    paths = {}
    for role, cell in (("b", BASE_CELL), ("d", ATTACKED_CELL)):
        paths[role] = tmp_path / f"{role}.jsonl"
        code, _, err = run(["import", "inspect", str(inspect_log(cell)), "-o", str(paths[role])],
                           capsys)
        assert code == 0, err
    card_path = tmp_path / "card.json"
    code, so, err = run(["card", "-b", str(paths["b"]), "-d", str(paths["d"]), "--resamples",
                         "500", "-o", str(card_path)], capsys)
    assert code == 0, err
    card = json.loads(card_path.read_text())
    # the abstain attack installs a gap on the attacked cell: the "recipe" widens the gap
    assert card["defense_gap"]["point"] > card["baseline_gap"]["point"]
    # the fixture logs hold fewer held-out questions than a percentile CI needs: (a) is n/a
    a = card["diagnostics"]["a"]
    assert a["n_questions"] < a["min_questions"] and a["verdict"] == "n/a"
    readme = tmp_path / "README.md"
    code, so, err = run(["export", "hf", str(card_path), "-o", str(readme)], capsys)
    assert code == 0 and "wrote" in so, err
    got = {r.metric_type: r for r in hub.ModelCard(readme.read_text()).data.eval_results}
    a = card["diagnostics"]["a"]
    assert got["acceptance-card/delta-gap"].metric_value == pytest.approx(a["delta_gap"])
    assert got["acceptance-card/delta-gap"].metric_args["ci_low"] == pytest.approx(a["ci_low"])
    assert f"**Verdict: {card['verdict']}**" in readme.read_text()
    # the same evidence with the minimum lowered: the widened gap fails (a)
    code, _, err = run(["card", "-b", str(paths["b"]), "-d", str(paths["d"]), "--resamples",
                        "500", "--min-questions", "1", "-o", str(card_path)], capsys)
    assert code == 0, err
    assert json.loads(card_path.read_text())["diagnostics"]["a"]["verdict"] == "fail"
