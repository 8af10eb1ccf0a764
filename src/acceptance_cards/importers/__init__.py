"""Importers: other tools' evaluation logs → evaluation records (SPEC §9).

* :func:`~.inspect_logs.import_inspect` — inspect_ai ``.eval`` / ``.json`` logs
  (needs the ``[inspect]`` extra);
* :func:`~.lm_eval_samples.import_lm_eval` — lm-evaluation-harness
  ``--log_samples`` JSONL (no extra: plain JSON);
* :mod:`.mapping` — the ``--map field=expr`` language both share;
* :mod:`.assemble` — the checks every import passes (a log lacking what a gate
  needs is refused, naming the sample).

Submodules are imported on use, so importing this package costs nothing.

Example:
    >>> from acceptance_cards.importers.lm_eval_samples import import_lm_eval  # doctest: +SKIP
    >>> import_lm_eval(["samples_framed_mmlu_2026.jsonl"], cell="base").n_samples  # doctest: +SKIP
    48
"""
