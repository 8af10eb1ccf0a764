"""Whole audits: cells from a config -> cards, matrix, filter, figures, sensitivity, report."""
