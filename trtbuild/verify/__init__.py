"""Numerical verification of built networks without a GPU (reference evaluation on the CPU)."""
