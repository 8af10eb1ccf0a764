"""The parameter-space signature of a trained cell: ΔW from an adapter or
checkpoints, and ρ against base-model gradients (gate (c) inputs).
"""
