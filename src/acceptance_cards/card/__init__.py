"""The card: its model and JSON Schema, the verdict rules, building a card
from records, verifying it, and linting a written claim against it.
"""
