"""The workspace remembers the data root a study ran with (catalog column, added to older catalogs)."""
from __future__ import annotations

import sqlite3

import pytest

from study.run import dataroot
from study.stores.catalog import Catalog, StudyRow

DATA_ENV = "STUDY_DATA_DIR"


def _row(name: str, data_root=None) -> StudyRow:
    return StudyRow(name=name, spec_yaml="{}", status="finished", optuna_storage="sqlite:///o.db", optuna_study=name,
                    storage_path="/tmp/ray", num_trials=1, data_root=data_root)


def test_a_catalog_from_before_the_column_gains_it(tmp_path):
    db = tmp_path / "catalog.db"
    with sqlite3.connect(db) as con:  # the table as the previous version created it
        con.execute("CREATE TABLE studies (name VARCHAR(100) PRIMARY KEY, spec_yaml TEXT, status VARCHAR(20), "
                    "created_at DATETIME, updated_at DATETIME, optuna_storage TEXT, optuna_study VARCHAR(200), "
                    "mlflow_uri TEXT, mlflow_parent_run_id VARCHAR(64), storage_path TEXT, ray_address TEXT, "
                    "num_trials INTEGER)")
        con.execute("INSERT INTO studies VALUES ('old', '{}', 'finished', '2026-01-01 00:00:00', "
                    "'2026-01-01 00:00:00', 'sqlite:///o.db', 'old', NULL, NULL, '/tmp/ray', NULL, 3)")
    cat = Catalog.open(tmp_path)
    assert cat.get("old").data_root is None and cat.get("old").num_trials == 3  # nothing lost
    cat.add(_row("new", "/data"))
    assert cat.data_root("new") == "/data" and cat.data_root() == "/data"


def test_adopted_only_when_neither_config_nor_environment_says(tmp_path, monkeypatch):
    monkeypatch.delenv(DATA_ENV, raising=False)
    assert dataroot.adopt(tmp_path, None) is None  # no catalog yet
    cat = Catalog.open(tmp_path, create=True)
    cat.add(_row("a", "/data/a"))
    assert dataroot.adopt(tmp_path, "/explicit", "a") is None  # data.root in the config wins
    monkeypatch.setenv(DATA_ENV, "/env")
    assert dataroot.adopt(tmp_path, None, "a") is None  # so does $STUDY_DATA_DIR
    monkeypatch.delenv(DATA_ENV)
    assert dataroot.adopt(tmp_path, None, "a") == "/data/a"
    import os

    assert os.environ[DATA_ENV] == "/data/a"  # for this process and the local Ray workers it starts
    monkeypatch.delenv(DATA_ENV)
    assert dataroot.adopt(tmp_path, None, "not-yet-run") == "/data/a"  # a new study: the workspace's last root


def test_a_relative_data_dir_is_made_absolute_before_trials_start(tmp_path, monkeypatch):
    """Ray Tune runs a trial in its own folder, where ``../shared/data`` names nothing (seen in bench/soak.py)."""
    import os

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv(DATA_ENV, "../shared/data")
    assert dataroot.adopt(tmp_path, None) is None  # the user's setting stands ...
    assert os.environ[DATA_ENV] == str(tmp_path.parent / "shared" / "data")  # ... as the path it meant here


@pytest.mark.parametrize("root", [None, "/given"])
def test_exported_train_configs_name_the_root(root):
    from study.kinds import KINDS
    from trainables.schema.config import RunConfig

    cfg = RunConfig.model_validate({"data": {"name": "mnist", "root": root}})
    pinned = KINDS["train"].with_data_root(cfg, "/remembered")
    assert pinned.data.root == (root or "/remembered")
    assert cfg.data.root == root  # the resolved trial config itself is untouched
