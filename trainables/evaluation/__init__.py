"""Reading a model: clean and adversarial accuracy with ΔE (``evaluate``), the per-epoch validation, masking
check and probe readings (``validation``), and the evaluation step sizes (``defaults``). method.md §6-7.
"""
