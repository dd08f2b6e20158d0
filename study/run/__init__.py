"""Running a study: the engine that drives Ray Tune (``engine``), Ray itself (``cluster``, ``raystart``), the
resolved options and data root, the resources pre-flight, the console's per-epoch lines (``progress``), and
what happens on a fault, a failure or Ctrl-C (``faultwatch``, ``failures``, ``interrupt``).
"""
