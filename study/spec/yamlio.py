"""The one strict YAML reader of the platform: specs, run configs, exported configs, generation configs.

Every file the platform reads goes through ``read_mapping``; every failure is a ``UserError``
(exit code 2) naming the file, the line and the fix:

* a missing path, a folder, an unreadable file;
* binary or non-UTF-8 bytes (a UTF-8 byte-order mark is accepted);
* an empty file, or one holding only comments (never "all defaults": that would launch the
  200-epoch CIFAR-10 recipe);
* a YAML syntax error (with its line and column);
* a key given twice in one mapping (YAML would silently keep the last one);
* a document that is not a mapping (a list, a bare value) or several documents in one file.

Then ``load_model`` validates the mapping as a typed config and words the errors with
``study.errors.wording``. Text the platform wrote itself (the catalog's copy of a spec) goes through
``parse_text``, the same parser.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Optional, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from study.errors import UserError
from study.errors.wording import format_validation

M = TypeVar("M", bound=BaseModel)
_MERGE_TAG = "tag:yaml.org,2002:merge"


class _DuplicateKey(yaml.MarkedYAMLError):
    pass


class StrictLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that refuses a key written twice in one mapping (merge keys ``<<`` may still
    be overridden, which is what they are for)."""

    def construct_mapping(self, node, deep=False):
        if isinstance(node, yaml.MappingNode):
            seen: dict[Any, Any] = {}
            for key_node, _ in node.value:
                if key_node.tag == _MERGE_TAG:
                    continue
                key = self.construct_object(key_node, deep=True)
                try:
                    first = seen.setdefault(key, key_node)
                except TypeError:  # an unhashable key: SafeLoader reports it below
                    continue
                if first is not key_node:
                    raise _DuplicateKey(
                        None, None, f"key {key!r} appears twice in one mapping (lines {first.start_mark.line + 1} "
                        f"and {key_node.start_mark.line + 1}); keep one of them", key_node.start_mark)
        return super().construct_mapping(node, deep)


def _decode(data: bytes, where: str) -> str:
    if b"\x00" in data[:8192]:
        raise UserError(f"{where} is a binary file, not YAML text; pass the YAML file itself "
                        f"(e.g. search_spaces/quickstart.yaml)")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = data[:e.start].count(b"\n") + 1
        raise UserError(f"{where} is not UTF-8 text (byte 0x{data[e.start]:02x} on line {line} cannot be decoded); "
                        f"save it as UTF-8 or pass the right file") from None


def parse_text(text: str, where: str, expect: str) -> dict:
    """YAML text as a mapping, strictly (see the module docstring); ``where`` names it in errors."""
    try:
        docs = list(yaml.load_all(text, Loader=StrictLoader))
    except _DuplicateKey as e:
        raise UserError(f"{where}: {e.problem}") from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        what = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise UserError(f"{where} is not valid YAML{at}: {what}; fix the syntax there (indentation, brackets, "
                        f"a ':' after each key)") from None
    docs = [d for d in docs if d is not None]
    if not docs:
        raise UserError(f"{where} is empty (no YAML content); it must hold a mapping ({expect}); see "
                        f"search_spaces/quickstart.yaml for an example")
    if len(docs) > 1:
        raise UserError(f"{where} holds {len(docs)} YAML documents (separated by '---'); keep one mapping ({expect})")
    doc = docs[0]
    if not isinstance(doc, dict):
        kind = "a list" if isinstance(doc, list) else f"a single {type(doc).__name__} value ({doc!r:.40})"
        raise UserError(f"{where} must hold a mapping ({expect}) but holds {kind}; write it as 'key: value' lines")
    return doc


def read_mapping(path: str | Path, what: str, expect: str) -> dict:
    """Read ``path`` (a ``what``: "spec file", "config file" …) as a strict YAML mapping."""
    p = Path(path)
    where = f"{what} {p}"
    if p.is_dir():
        raise UserError(f"{where} is a folder; pass a YAML file")
    if not p.is_file():
        raise UserError(f"{where} does not exist; check the path")
    try:
        data = p.read_bytes()
    except OSError as e:
        raise UserError(f"{where} cannot be read ({e.strerror or e}); check its permissions") from None
    return parse_text(_decode(data, where), where, expect)


def validate(raw: dict, model: type[M], where: str) -> M:
    """``raw`` as ``model``; errors worded field by field (what is wrong, the value, the fix)."""
    try:
        return model.model_validate(raw)
    except ValidationError as e:
        raise UserError(f"{where} is invalid:\n{format_validation(e, model)}") from None


def load_model(path: str | Path, model: type[M], what: str, expect: str,
               unwrap: Optional[Callable[[dict], dict]] = None) -> M:
    """Load ``path`` as strict YAML and validate it as ``model``; ``what`` names the file's role in errors,
    ``expect`` says what the mapping should hold, ``unwrap`` picks a sub-mapping (e.g. a spec's run block)."""
    raw = read_mapping(path, what, expect)
    if unwrap is not None:
        raw = unwrap(raw)
    return validate(raw, model, f"{what} {path}")
