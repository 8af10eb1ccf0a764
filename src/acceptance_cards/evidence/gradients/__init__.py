"""Base-model gradients on calibration items: the g_T and g_A vectors that
gate (c) and the gradient-aware recipes read.
"""
