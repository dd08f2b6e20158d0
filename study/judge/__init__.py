"""The offline judgement of stopping rules on recorded traces (not used while a study runs): held-out
collapse labels (``heldout``) and the calibration of a rule's settings against them (``calibrate``).
"""
