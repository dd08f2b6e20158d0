"""Reading a study back: its stores (``reading``), ``study status`` (``status``), its answer (``answer``,
``evaluate``), ``study export`` (``export``) and ``study compare`` (``compare``). Reads; never runs trials.
"""
