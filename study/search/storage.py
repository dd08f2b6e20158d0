"""Optuna's RDB storage, made safe to pickle: Ray writes the searcher (and with it the storage) into
its experiment state on disk, so the URL is pickled with its password masked. Unpickling (on
``study resume``) takes the real URL from this process's registry, which the driver fills from the
URL the user passed again.
"""
from __future__ import annotations

import optuna

from study.errors import UserError
from study.stores.urls import mask

_REAL_URLS: dict[str, str] = {}  # masked URL -> real URL, this process only


def register_url(url: str) -> None:
    _REAL_URLS[mask(url)] = url


class MaskedRDBStorage(optuna.storages.RDBStorage):
    def __getstate__(self) -> dict:
        state = super().__getstate__()
        state["url"] = mask(self.url)
        return state

    def __setstate__(self, state: dict) -> None:
        real = _REAL_URLS.get(state["url"], state["url"])
        if "***" in real:
            raise UserError(f"the Optuna storage {state['url']} of this study needs its password; pass the URL "
                            f"again with --optuna-storage")
        super().__setstate__({**state, "url": real})


def open_storage(url: str) -> MaskedRDBStorage:
    """Optuna's storage at ``url``. SQLite waits ``$STUDY_SQLITE_TIMEOUT`` (30 s) for another process's lock
    instead of its own 5 s (a database browser, a second `study` command reading it); past that the driver
    stops with one paragraph naming the file (``study.console.faults``)."""
    from study.console.faults import sqlite_timeout_s

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    register_url(url)
    kwargs: dict = {"pool_pre_ping": True}
    if url.startswith("sqlite"):
        kwargs["connect_args"] = {"timeout": sqlite_timeout_s()}
    return MaskedRDBStorage(url, engine_kwargs=kwargs)
