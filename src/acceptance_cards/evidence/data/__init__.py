"""Evidence data: MMLU items, the held-out/fresh split, framing templates,
structurally different tasks, and the attack data that installs a gap.
"""
