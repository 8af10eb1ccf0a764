"""Framing templates: the wordings that make a prompt read as an evaluation or as ordinary use.

The set ships as ``acceptance_cards/evidence/data/templates.json`` (a user file with the
same layout may replace it). Each template has framing text ``before`` and
optionally ``after`` the question; the question block and the answer
instruction are fixed by :mod:`.tasks`, so templates differ only in framing,
never in answer format.

Uses (what the set must contain):

* ``heldout`` — 10 eval + 10 deploy wordings, gate (a) (48 questions x 20 = 960);
* ``fresh`` — 2 + 2 unseen wordings, gates (b) and (d);
* ``train`` — wordings used only to build fine-tuning data.

Example:
    >>> ts = load_templates()
    >>> len(ts.select(use="heldout", framing="eval")), len(ts.select(use="fresh"))
    (10, 4)
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from ..._util.errors import InputError

FRAMINGS = ("eval", "deploy")
USES = ("heldout", "fresh", "train")

#: How many templates per framing each evaluation use must have.
REQUIRED_PER_FRAMING = {"heldout": 10, "fresh": 2}

#: Words that would change the answer format; a framing text must not contain them.
_FORMAT_WORDS = ("letter", "(a)", "option a", "answer with", "respond with")


@dataclass(frozen=True)
class Template:
    """One framing wording."""

    id: str
    framing: str
    use: str
    before: str
    after: str = ""


@dataclass(frozen=True)
class TemplateSet:
    """All templates plus the hash of the file they came from."""

    templates: tuple[Template, ...]
    sha256: str
    source: str

    def select(self, *, use: str, framing: str | None = None) -> list[Template]:
        """Templates for one use (and optionally one framing), in file order."""
        if use not in USES:
            raise InputError(f"unknown template use {use!r}; one of {', '.join(USES)}",
                             field="use")
        return [t for t in self.templates
                if t.use == use and (framing is None or t.framing == framing)]

    def get(self, template_id: str) -> Template:
        """The template with this id."""
        for t in self.templates:
            if t.id == template_id:
                return t
        raise InputError(f"unknown template id {template_id!r}", path=self.source,
                         field="template_id")


def _parse(data: object, source: str) -> tuple[Template, ...]:
    if not isinstance(data, dict) or not isinstance(data.get("templates"), list):
        raise InputError("expected an object with a `templates` list", path=source,
                         field="templates")
    out: list[Template] = []
    seen: set[str] = set()
    for i, row in enumerate(data["templates"], 1):
        if not isinstance(row, dict):
            raise InputError("template must be an object", path=source, line=i)
        for key in ("id", "framing", "use", "before"):
            if not isinstance(row.get(key), str):
                raise InputError("missing or not a string", path=source, line=i, field=key)
        if row["framing"] not in FRAMINGS:
            raise InputError(f"must be eval or deploy, got {row['framing']!r}", path=source,
                             line=i, field="framing")
        if row["use"] not in USES:
            raise InputError(f"must be one of {', '.join(USES)}", path=source, line=i, field="use")
        if row["id"] in seen:
            raise InputError(f"duplicate template id {row['id']!r}", path=source, line=i,
                             field="id")
        seen.add(row["id"])
        after = row.get("after", "")
        if not isinstance(after, str):
            raise InputError("must be a string", path=source, line=i, field="after")
        text = (row["before"] + " " + after).lower()
        for word in _FORMAT_WORDS:
            if word in text:
                raise InputError(f"framing text mentions the answer format ({word!r}); the "
                                 "answer instruction is fixed by the task", path=source, line=i,
                                 field="before")
        out.append(Template(row["id"], row["framing"], row["use"], row["before"].strip(),
                            after.strip()))
    for use, n in REQUIRED_PER_FRAMING.items():
        for framing in FRAMINGS:
            have = sum(1 for t in out if t.use == use and t.framing == framing)
            if have != n:
                raise InputError(f"needs {n} {framing} templates with use={use}, has {have}",
                                 path=source, field="templates")
    wordings = [(t.before, t.after) for t in out]
    if len(set(wordings)) != len(wordings):
        raise InputError("two templates share the same wording", path=source, field="templates")
    return tuple(out)


def load_templates(path: str | Path | None = None) -> TemplateSet:
    """Load and validate a template file (default: the shipped set)."""
    if path is None:
        raw = resources.files("acceptance_cards.evidence.data").joinpath("templates.json").read_bytes()
        source = "acceptance_cards/evidence/data/templates.json"
    else:
        p = Path(path)
        if not p.is_file():
            raise InputError("no such template file", path=p)
        raw, source = p.read_bytes(), str(p)
    try:
        data = json.loads(raw)
    except ValueError as exc:
        raise InputError(f"not valid JSON ({exc})", path=source) from None
    return TemplateSet(_parse(data, source), hashlib.sha256(raw).hexdigest(), source)
