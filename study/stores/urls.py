"""Storage and tracking URLs: validation with clear errors, and password masking for anything shown."""
from __future__ import annotations

import re
from urllib.parse import urlsplit, urlunsplit

from study.errors import UserError

_USERINFO = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)(?P<user>[^:/@\s]*):(?P<pw>[^@/\s]*)@")


def mask(url: str | None) -> str | None:
    """``postgresql://u:secret@h/db`` → ``postgresql://u:***@h/db``; works on any text holding URLs."""
    if url is None:
        return None
    return _USERINFO.sub(lambda m: f"{m['scheme']}{m['user']}:***@", str(url))


def has_password(url: str) -> bool:
    return bool(_USERINFO.search(url))


def check_sqlalchemy_url(url: str, what: str) -> str:
    """Parse a SQLAlchemy URL and check its driver is installed; the error names ``what`` and the fix."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError, NoSuchModuleError

    try:
        u = make_url(url)
        u.get_dialect()
    except ArgumentError:
        raise UserError(f"{what} URL {mask(url)!r} is not a database URL; use e.g. sqlite:////abs/path/optuna.db "
                        f"or postgresql+psycopg://user@host:5432/dbname") from None
    except (NoSuchModuleError, ImportError) as e:
        raise UserError(f"{what} URL {mask(url)!r} needs a database driver that is not installed ({e}); "
                        f"for PostgreSQL install the extra: pip install 'der-study[postgres]'") from None
    return url


def check_connect(url: str, what: str, timeout_s: int = 10) -> None:
    """Open and close one connection, so a wrong host or password fails before any trial starts."""
    from sqlalchemy import create_engine, text

    args = {"connect_timeout": timeout_s} if url.startswith("postgresql") else {}
    engine = create_engine(url, connect_args=args)
    try:
        with engine.connect() as c:
            c.execute(text("SELECT 1"))
    except Exception as e:  # noqa: BLE001 - any driver error becomes one readable message
        first = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise UserError(f"cannot connect to the {what} at {mask(url)}: {mask(first)}. Check host, port, database "
                        f"name and credentials (a password can come from PGPASSWORD or ~/.pgpass instead of the URL)") from None
    finally:
        engine.dispose()


def check_http_url(url: str, what: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise UserError(f"{what} {mask(url)!r} is not an http(s) URL, a sqlite:/// path or a database URL")
    return urlunsplit(parts)


def unmasked_url(stored: str, given: str | None, flag: str) -> str:
    """The usable URL of a store the catalog keeps masked: ``given`` must mask to ``stored``; a stored URL
    without a password is usable as is, one with a (masked) password must be given again."""
    if given:
        if mask(given) != stored:
            raise UserError(f"{flag} {mask(given)} is not the store this study was created with ({stored})")
        return given
    if has_password(stored):
        raise UserError(f"the catalog keeps {stored} without its password; pass it again with {flag} URL (or put "
                        f"the password in PGPASSWORD / ~/.pgpass and use a URL without one)")
    return stored
