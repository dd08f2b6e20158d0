"""Ray: start it locally, or join an existing cluster, failing fast with a clear message.

``RAY_ADDRESS=host:port`` with nothing listening makes ``ray.init`` retry for ~14 minutes, so the
port is checked with a TCP connect first.

A local start on a busy machine (a 2-core laptop whose cores train something else) can take minutes:
Ray's own waits (30 s for the GCS port, 20 connection tries, 60 s before a process gives up on the
GCS with a raw "Failed to connect to GCS within 60 seconds" and dies) are raised to the platform's
start budget (``study.run.raystart``), the console says when the start is slow, and a start that does not
finish within the budget ends in one paragraph (``study.errors.Fault``) instead of Ray's line.
"""
from __future__ import annotations

import logging
import os
import socket
from typing import Callable, Optional

from study.errors import UserError


def resolve_address(cli_address: Optional[str]) -> Optional[str]:
    return cli_address or os.environ.get("RAY_ADDRESS") or None


def check_reachable(address: str, timeout_s: float = 3.0) -> None:
    """Fail in seconds when a host:port Ray address does not answer."""
    if address in ("auto", "local"):
        return
    hostport = address.split("://", 1)[-1]
    host, _, port = hostport.rpartition(":")
    if not host or not port.isdigit():
        raise UserError(f"Ray address {address!r} is not host:port (e.g. 10.0.0.5:6379) or 'auto'")
    try:
        with socket.create_connection((host, int(port)), timeout=timeout_s):
            pass
    except OSError as e:
        raise UserError(f"cannot reach a Ray cluster at {address} ({e.strerror or e}); start one with "
                        f"`ray start --head --port {port}` or drop --ray-address / RAY_ADDRESS to run locally") from None


def init_ray(address: Optional[str], num_cpus: Optional[float] = None, num_gpus: Optional[float] = None,
             verbose: bool = False, env: Optional[dict] = None, say: Optional[Callable[[str], None]] = None) -> bool:
    """Connect to ``address`` or start a local Ray with this machine's CPUs (dashboard off); ``say`` gets the
    line that a slow local start prints (default: stderr). Returns False when Ray was already initialised in
    this process (nothing done)."""
    import ray

    if ray.is_initialized():
        return False
    common = dict(log_to_driver=verbose, logging_level=logging.INFO if verbose else logging.WARNING,
                  configure_logging=True)
    if env:
        common["runtime_env"] = {"env_vars": dict(env)}
    if address:
        if num_cpus or num_gpus:
            raise UserError("--num-cpus/--num-gpus set a local Ray's resources; a cluster's are set by `ray start`")
        prepare_join(address)
        try:
            ray.init(address=address, **common)
        except (ConnectionError, RuntimeError) as e:
            raise UserError(f"cannot join the Ray cluster at {address}: {str(e).splitlines()[0]}. If the cluster "
                            f"uses token authentication (Ray's default), give this machine its token "
                            f"(~/.ray/auth_token or RAY_AUTH_TOKEN) and set RAY_AUTH_MODE=token") from None
        _after_init()
        return True
    from study.run import raystart

    raystart.start_local(lambda: ray.init(num_cpus=num_cpus or os.cpu_count(), num_gpus=num_gpus,
                                          include_dashboard=False, object_store_memory=_object_store_bytes(),
                                          **common), say=say)
    _after_init()
    return True


def _after_init() -> None:
    """Undo what ray.init does to this process that the CLI handles itself: console handlers on Ray's
    loggers (sent to the study's log instead) and SIGTERM (a clean stop, as for Ctrl-C)."""
    from study.run import interrupt
    from study.console.logs import follow_libraries

    follow_libraries()
    interrupt.reclaim()


def prepare_join(address: str) -> None:
    """Before Ray is imported: check the address answers, and opt in to token auth when a token exists.

    Ray 2.60 clusters require token authentication by default and a client must say so with
    RAY_AUTH_MODE=token, which Ray reads once, at import.
    """
    check_reachable(address)
    _token_auth_if_available()


def _token_auth_if_available() -> None:
    has_token = os.environ.get("RAY_AUTH_TOKEN") or os.environ.get("RAY_AUTH_TOKEN_PATH") or \
        os.path.exists(os.path.expanduser("~/.ray/auth_token"))
    if has_token:
        os.environ.setdefault("RAY_AUTH_MODE", "token")


def _object_store_bytes() -> int:
    """Cap the object store (Ray's default takes ~30% of RAM; trials pass little through it)."""
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError):
        total = 8 << 30
    return int(max(256 << 20, min(2 << 30, total // 10)))
