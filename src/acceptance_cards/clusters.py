"""What a cluster is, and the paired per-cluster table every statistic reads.

This module owns the definition: under the default ``unit="question"`` a
cluster is one ``question_id`` (all its templates and both framings); under
``unit="item"`` (sensitivity only) a cluster is one evaluation slot
``(question_id, template_id, framing)``, which treats every evaluation as
independent — the error the clustered design exists to prevent.

Baseline and defense are aligned on the same cluster ids (paired design), so a
bootstrap that draws cluster indices draws the same questions for both cells.

Example:
    >>> from acceptance_cards.records import records_from_rows
    >>> def rows(cell, c):
    ...     return [dict(cell=cell, task="t", split="fresh", question_id="q", subject="s",
    ...                  template_id=f, framing=f, correct=x) for f, x in zip(("eval", "deploy"), c)]
    >>> t = paired_table(records_from_rows(rows("b", (0, 1))), records_from_rows(rows("d", (1, 1))),
    ...                  split="fresh")
    >>> t.sums[0].tolist()   # [cell][framing]: baseline eval, deploy; defense eval, deploy
    [[0.0, 1.0], [1.0, 1.0]]
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

from ._util.errors import InputError
from .records import RecordSet

Unit = Literal["question", "item"]
#: Axis conventions of the table: cell index and framing index.
BASELINE, DEFENSE = 0, 1
EVAL, DEPLOY = 0, 1
#: How many missing ids an error message lists before "…".
_MAX_LISTED = 5


@dataclass(frozen=True)
class PairedTable:
    """Per-cluster sums and counts for a baseline/defense pair in one split.

    ``sums[q, cell, framing]`` is the summed ``correct`` of cluster ``q``;
    ``counts[q, cell, framing]`` the number of evaluations behind it.
    """

    ids: tuple[str, ...]
    sums: npt.NDArray[np.float64]
    counts: npt.NDArray[np.float64]
    unit: Unit
    split: str

    @property
    def n_clusters(self) -> int:
        return len(self.ids)

    def rates(self) -> npt.NDArray[np.float64]:
        """Pooled rate per (cell, framing): Σ correct / Σ evaluations."""
        tot = self.counts.sum(axis=0)
        out: npt.NDArray[np.float64] = np.divide(
            self.sums.sum(axis=0), tot, out=np.full_like(tot, np.nan), where=tot > 0
        )
        return out

    def n_evaluations(self) -> npt.NDArray[np.float64]:
        """Evaluations per (cell, framing)."""
        out: npt.NDArray[np.float64] = self.counts.sum(axis=0)
        return out


def _keys(rs: RecordSet, unit: Unit) -> npt.NDArray[np.str_]:
    if unit == "question":
        return rs.question_id
    framing = np.where(rs.is_eval, "eval", "deploy")
    return np.char.add(np.char.add(np.char.add(rs.question_id, "\x1f"), rs.template_id),
                       np.char.add("\x1f", framing))


def _accumulate(
    rs: RecordSet, keys: npt.NDArray[np.str_], order: dict[str, int], n: int
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    idx = np.fromiter((order[k] for k in keys.tolist()), dtype=np.int64, count=len(keys))
    col = np.where(rs.is_eval, EVAL, DEPLOY)
    flat = idx * 2 + col
    sums = np.bincount(flat, weights=rs.correct, minlength=2 * n).reshape(n, 2).astype(np.float64)
    counts = np.bincount(flat, minlength=2 * n).reshape(n, 2).astype(np.float64)
    return sums, counts


def paired_table(
    baseline: RecordSet, defense: RecordSet, *, split: str, unit: Unit = "question"
) -> PairedTable:
    """Align baseline and defense records of ``split`` on shared cluster ids.

    Raises:
        InputError: a split is absent in one file, or the two files do not cover
            the same question ids (the message names the missing ids).
    """
    b, d = baseline.select(split), defense.select(split)
    for rs in (b, d):
        if len(rs) == 0:
            raise InputError(f"has no `{split}` records", path=rs.path, field="split")
    _check_same_ids(b, d, split)
    kb, kd = _keys(b, unit), _keys(d, unit)
    ids = tuple(sorted(set(kb.tolist())))
    if unit == "item" and set(kd.tolist()) != set(ids):
        raise InputError(
            "item-level pairing needs the same (question, template, framing) slots in both files",
            path=d.path, field="template_id",
        )
    order = {k: i for i, k in enumerate(ids)}
    sb, cb = _accumulate(b, kb, order, len(ids))
    sd, cd = _accumulate(d, kd, order, len(ids))
    return PairedTable(
        ids=ids,
        sums=np.stack([sb, sd], axis=1),
        counts=np.stack([cb, cd], axis=1),
        unit=unit,
        split=split,
    )


def _check_same_ids(b: RecordSet, d: RecordSet, split: str) -> None:
    qb, qd = set(b.question_id.tolist()), set(d.question_id.tolist())
    if qb == qd:
        return
    for missing, have, lacks in ((qb - qd, b, d), (qd - qb, d, b)):
        if missing:
            listed = sorted(missing)
            shown = ", ".join(repr(x) for x in listed[:_MAX_LISTED])
            more = f" and {len(listed) - _MAX_LISTED} more" if len(listed) > _MAX_LISTED else ""
            raise InputError(
                f"baseline and defense must cover the same `{split}` question ids; "
                f"{len(listed)} id(s) in {have.path} are missing here: {shown}{more}",
                path=lacks.path, field="question_id",
            )


def per_cluster_gaps(table: PairedTable) -> npt.NDArray[np.float64]:
    """g[q, cell] = mean(correct | deploy) − mean(correct | eval) per cluster.

    Only defined for question clusters (an item cluster holds one framing).
    """
    if table.unit != "question":
        raise ValueError("per-question gaps need question clusters")
    means = table.sums / table.counts
    return means[:, :, DEPLOY] - means[:, :, EVAL]
