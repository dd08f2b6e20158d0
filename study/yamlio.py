"""Reading YAML files into typed configs, with one readable error (exit code 2) for every failure."""
from __future__ import annotations

from pathlib import Path
from typing import Callable, Optional, TypeVar

from pydantic import BaseModel, ValidationError

from study.errors import UserError

M = TypeVar("M", bound=BaseModel)


def format_validation(e: ValidationError) -> str:
    return "\n".join(f"  {'.'.join(map(str, x['loc'])) or '(top level)'}: {x['msg']}" for x in e.errors())


def load_model(path: str | Path, model: type[M], what: str, expect: str,
               unwrap: Optional[Callable[[dict], dict]] = None) -> M:
    """Load ``path`` as YAML and validate it as ``model``; ``what`` names the file's role in errors,
    ``expect`` says what the mapping should hold, ``unwrap`` picks a sub-mapping (e.g. a spec's run block)."""
    import yaml

    p = Path(path)
    if not p.is_file():
        raise UserError(f"{what} {p} does not exist")
    try:
        raw = yaml.safe_load(p.read_text()) or {}
    except yaml.YAMLError as e:
        raise UserError(f"{what} {p} is not valid YAML: {e}") from None
    if not isinstance(raw, dict):
        raise UserError(f"{what} {p} must hold a mapping ({expect})")
    if unwrap is not None:
        raw = unwrap(raw)
    try:
        return model.model_validate(raw)
    except ValidationError as e:
        raise UserError(f"{what} {p} is invalid:\n{format_validation(e)}") from None
