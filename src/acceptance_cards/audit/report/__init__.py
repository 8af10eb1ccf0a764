"""Reporting on an audit: matrix, progressive filter, sensitivity and
multiplicity tables, figures, the HTML report and the output folder.
"""
