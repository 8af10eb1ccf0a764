"""Fine-tuning one cell: config, the LoRA training loop, checkpoints and the
defense recipes (one module each under ``recipes/``).
"""
