"""What the user reads: units and tables (``display``), what "best" and MASKED mean (``explain``), pasteable
commands (``hints``), progress lines of long phases (``phases``), faults in plain words (``faults``) and the
study's log file where everything else goes (``logs``).
"""
