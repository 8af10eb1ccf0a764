"""Loading a causal language model (Hugging Face folders or GGUF) for the
evidence path.
"""
