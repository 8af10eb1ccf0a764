"""Exporters: a card → the places results are published.

* :mod:`.huggingface` — a Hugging Face model-card section and ``model-index``
  eval results (needs the ``[hf]`` extra: ``huggingface_hub``).

Example:
    >>> from acceptance_cards.export.huggingface import to_model_card  # doctest: +SKIP
"""
