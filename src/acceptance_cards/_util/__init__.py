"""Shared plumbing with no knowledge of cards: errors, file reading and atomic
writing, lazy imports of optional extras, torch thread settings.
"""
