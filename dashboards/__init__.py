"""The study report: ``dashboards.data`` reads a study from Optuna + MLflow, ``dashboards.figures`` draws
one figure per kind, ``dashboards.table`` the trial table and ``dashboards.html`` assembles one
self-contained HTML page (``dashboards.report.build_report``; CLI: ``study report``)."""
