"""Search: Ray Tune's ``OptunaSearch`` with the bookkeeping Ray leaves out (``search``), on Optuna's RDB storage
made safe to pickle (``storage``).
"""
