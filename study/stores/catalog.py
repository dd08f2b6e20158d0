"""The workspace's catalog of studies (SQLAlchemy, ``<workspace>/catalog.db``).

One row per study: its spec, status, timestamps, where its stores are (URLs with passwords
masked), its MLflow parent run and the data root it ran with (so that ``study train``, ``study
resume`` and exported configs find the data in a new shell, without ``$STUDY_DATA_DIR``). The catalog owns only this; trial state lives in Optuna and
Ray, metrics in MLflow.
"""
from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Optional

from sqlalchemy import DateTime, Integer, String, Text, create_engine, inspect, select, text
from sqlalchemy.exc import DatabaseError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from study.errors import UserError
from study.stores.urls import mask
from trainables.schema.suggest import did_you_mean

CATALOG_FILE = "catalog.db"


class Base(DeclarativeBase):
    pass


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc).replace(microsecond=0)


class StudyRow(Base):
    __tablename__ = "studies"

    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    spec_yaml: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(20), default="created")
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=_now)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime, default=_now, onupdate=_now)
    optuna_storage: Mapped[str] = mapped_column(Text)
    optuna_study: Mapped[str] = mapped_column(String(200))
    mlflow_uri: Mapped[Optional[str]] = mapped_column(Text, nullable=True)
    mlflow_parent_run_id: Mapped[Optional[str]] = mapped_column(String(64), nullable=True)
    storage_path: Mapped[str] = mapped_column(Text)
    ray_address: Mapped[Optional[str]] = mapped_column(Text, nullable=True)
    num_trials: Mapped[int] = mapped_column(Integer, default=0)
    data_root: Mapped[Optional[str]] = mapped_column(Text, nullable=True)

    def spec(self):
        """The study's spec as recorded (parsed by the same strict reader as a spec file)."""
        from study.spec.spec import spec_from_text

        return spec_from_text(self.spec_yaml, f"the catalog's copy of study {self.name!r}")


class Catalog:
    def __init__(self, workspace: Path) -> None:
        self.path = Path(workspace) / CATALOG_FILE
        self.engine = create_engine(f"sqlite:///{self.path}")

    @classmethod
    def open(cls, workspace: Path, create: bool = False) -> "Catalog":
        """Open the workspace's catalog; with ``create`` make it (and its table) if missing."""
        path = Path(workspace) / CATALOG_FILE
        if not path.exists() and not create:
            gone = "" if Path(workspace).is_dir() else (
                f": the folder {workspace} does not exist (if it lives on a disk or a network share that is not "
                f"mounted now, mount it again)")
            raise UserError(f"no studies in workspace {workspace} (no {CATALOG_FILE}){gone}; pass --workspace DIR "
                            f"pointing at the folder you ran `study run` in")
        cat = cls(workspace)
        try:
            Base.metadata.create_all(cat.engine)
            _add_new_columns(cat.engine)
        except DatabaseError as e:
            raise UserError(f"{path} is not a readable study catalog ({str(e.orig).splitlines()[0]}); it is not an "
                            f"SQLite file or it is damaged: pass the right --workspace, or move {path} aside") from None
        return cat

    def add(self, row: StudyRow) -> StudyRow:
        row.optuna_storage, row.mlflow_uri = mask(row.optuna_storage), mask(row.mlflow_uri)
        with Session(self.engine, expire_on_commit=False) as s:
            if s.get(StudyRow, row.name) is not None:
                raise UserError(f"study {row.name!r} already exists in this workspace; continue it with "
                                f"`study resume {row.name}` or pick another name with --name")
            s.add(row)
            s.commit()
        return row

    def get(self, name: str) -> StudyRow:
        with Session(self.engine, expire_on_commit=False) as s:
            row = s.get(StudyRow, name)
        if row is None:
            names = [r.name for r in self.all()]
            raise UserError(f"no study named {name!r} in {self.path.parent}{did_you_mean(name, names)}; the studies "
                            f"there: {', '.join(names) or 'none'} (`study list` shows them)")
        return row

    def exists(self, name: str) -> bool:
        with Session(self.engine) as s:
            return s.get(StudyRow, name) is not None

    def all(self) -> list[StudyRow]:
        with Session(self.engine, expire_on_commit=False) as s:
            return list(s.scalars(select(StudyRow).order_by(StudyRow.created_at)))

    def data_root(self, name: Optional[str] = None) -> Optional[str]:
        """The data root study ``name`` ran with; without a name, the one of the study run last."""
        if name is not None:
            return self.get(name).data_root
        with Session(self.engine) as s:
            return s.scalars(select(StudyRow.data_root).where(StudyRow.data_root.is_not(None))
                             .order_by(StudyRow.created_at.desc())).first()

    def update(self, name: str, **fields) -> None:
        with Session(self.engine) as s:
            row = s.get(StudyRow, name)
            for k, v in fields.items():
                setattr(row, k, mask(v) if k in ("optuna_storage", "mlflow_uri") else v)
            s.commit()


def _add_new_columns(engine) -> None:
    """Catalogs written by an earlier version lack the newer (nullable) columns: add them."""
    have = {c["name"] for c in inspect(engine).get_columns(StudyRow.__tablename__)}
    missing = [c for c in StudyRow.__table__.columns if c.name not in have and c.nullable]
    with engine.begin() as conn:
        for col in missing:
            conn.execute(text(f"ALTER TABLE {StudyRow.__tablename__} ADD COLUMN {col.name} "
                              f"{col.type.compile(engine.dialect)}"))
