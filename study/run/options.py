"""Where a study's stores live, resolved and validated before anything is created.

Every check here is side-effect free: a bad workspace, URL or Ray address is reported (exit 2)
before the workspace, a database or a Ray session is touched.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from study.run.cluster import prepare_join, resolve_address
from study.errors import UserError
from study.stores.workspace import check_workspace, chosen_workspace
from study.stores.urls import check_connect, check_http_url, check_sqlalchemy_url

NO_TRACKING = ("none", "off", "")


@dataclass
class StudyOptions:
    workspace: Path
    optuna_storage: str
    mlflow_uri: Optional[str]
    storage_path: str
    ray_address: Optional[str] = None
    num_cpus: Optional[float] = None
    num_gpus: Optional[float] = None
    verbose: bool = False
    extra: dict = field(default_factory=dict)

    @property
    def artifact_root(self) -> Path:
        return self.workspace / "mlartifacts"


def check_sqlite_location(url: str, what: str) -> None:
    """A SQLite file must be creatable: its folder exists (or will be the workspace) and is writable."""
    from sqlalchemy.engine import make_url

    db = make_url(url).database
    if not db or db == ":memory:":
        raise UserError(f"{what} {url!r} names no database file; use sqlite:////absolute/path/file.db")
    check_workspace(Path(db).parent)


MLFLOW_DB_SCHEMES = ("sqlite", "postgresql", "mysql", "mssql")


def check_mlflow_uri(uri: str) -> str:
    if uri.startswith(("http://", "https://")):
        return check_http_url(uri, "MLflow tracking URI")
    if "://" not in uri or uri.split("://")[0].split("+")[0] not in MLFLOW_DB_SCHEMES:
        raise UserError(f"MLflow tracking URI {uri!r} is not supported; use sqlite:////abs/path/mlflow.db, a "
                        f"database URL, or http://host:port of an MLflow server (or 'none' to disable tracking)")
    return check_sqlalchemy_url(uri, "MLflow tracking")


def resolve_options(workspace: Optional[str], optuna_storage: Optional[str] = None, mlflow_uri: Optional[str] = None,
                    storage_path: Optional[str] = None, ray_address: Optional[str] = None,
                    num_cpus: Optional[float] = None, num_gpus: Optional[float] = None,
                    verbose: bool = False) -> StudyOptions:
    ws = check_workspace(chosen_workspace(workspace))
    optuna_url = check_sqlalchemy_url(optuna_storage or f"sqlite:///{ws / 'optuna.db'}", "Optuna storage")
    tracking = mlflow_uri if mlflow_uri is not None else f"sqlite:///{ws / 'mlflow.db'}"
    tracking = None if tracking.lower() in NO_TRACKING else check_mlflow_uri(tracking)
    for url, what in ((optuna_url, "Optuna storage"), (tracking, "MLflow tracking store")):
        if url and url.startswith("sqlite:"):
            check_sqlite_location(url, what)
        elif url and not url.startswith(("http://", "https://")):
            check_connect(url, what)
    if tracking is not None and tracking == optuna_url:
        raise UserError("Optuna and MLflow cannot share one database (each owns an alembic_version table); "
                        "give them different URLs")
    if storage_path and "://" not in storage_path:
        storage_path = str(check_workspace(Path(storage_path)))
    address = resolve_address(ray_address)
    if address:
        if num_cpus or num_gpus:
            raise UserError("--num-cpus/--num-gpus size a local Ray; a cluster's resources come from `ray start`")
        prepare_join(address)
    return StudyOptions(ws, optuna_url, tracking, storage_path or str(ws / "ray"), address, num_cpus, num_gpus, verbose)
