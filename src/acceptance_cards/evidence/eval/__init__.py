"""Scoring a model under framing templates into per-item records (SPEC §9).
"""
