"""Energies of a classifier read as an energy-based model: E(x), ΔE and the joint ΔE (``energies``), the Delta
Energy Regularizer (``der``) and the streaming per-epoch ΔE statistics (``trace``). method.md §1, §5.
"""
