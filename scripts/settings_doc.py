"""Write docs/settings.md and docs/gateway-settings.md, the references of the service's and the
gateway's settings, from ``service.settings.Settings`` and ``gateway.settings.GatewaySettings``.

Every field is one row: its environment variable (the prefix + the field name), its default, the
values it takes (from its type and constraints) and its description. A new field appears after
running the command again; nothing else needs editing.

    python -m scripts.settings_doc           # (re)write both files
    python -m scripts.settings_doc --check   # exit 1 when a file differs from the code

tests/scripts/test_settings_doc.py and tests/gateway/test_settings.py fail while they differ.
"""

from __future__ import annotations

import argparse
import enum
import sys
import types
import typing
from pathlib import Path
from typing import Any

import annotated_types
from pydantic import SecretStr
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings

REPO = Path(__file__).resolve().parents[1]
DOC = REPO / "docs" / "settings.md"
GATEWAY_DOC = REPO / "docs" / "gateway-settings.md"
MIB = 1 << 20

HEADER = """# Service settings

<!-- Generated from service/settings.py by `python -m scripts.settings_doc`: edit the fields of
`Settings` there, then run the command; tests/scripts/test_settings_doc.py fails while they differ. -->

The service reads its settings from environment variables when it starts (pydantic-settings, class
`Settings` in `service/settings.py`): each field `x` is the variable `{prefix}X` (names are
case-insensitive; booleans take `true`/`false`, `1`/`0`). An unset variable takes the default.
The container images set some of them (see the Dockerfile and docs/deployment.md).

| Variable | Default | Values | What it does |
| --- | --- | --- | --- |
"""

GATEWAY_HEADER = """# Gateway settings

<!-- Generated from gateway/settings.py by `python -m scripts.settings_doc`: edit the fields of
`GatewaySettings` there, then run the command; tests/gateway/test_settings.py fails while they differ. -->

The gateway (`python -m gateway`, docs/integration.md) reads its settings from environment variables
when it starts (pydantic-settings, class `GatewaySettings` in `gateway/settings.py`): each field `x`
is the variable `{prefix}X`. An unset variable takes the default; invalid values stop the start with
a message (exit status 2). `python -m gateway --help` prints the same list.

| Variable | Default | Values | What it does |
| --- | --- | --- | --- |
"""


def _optional(annotation: Any) -> tuple[Any, bool]:
    """``(inner type, True)`` for ``X | None``, else ``(annotation, False)``."""
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(args) == 1 and len(typing.get_args(annotation)) == 2:
            return args[0], True
    return annotation, False


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def default_text(name: str, field: FieldInfo, repo: Path = REPO) -> str:
    """The default as a reader writes it: unset, `true`, a byte size (``*_bytes``) with its MiB, a
    path in the repository."""
    value = field.get_default(call_default_factory=True)
    if value is None:
        return "unset"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, Path):
        try:
            return f"`{value.relative_to(repo).as_posix()}/` (in the repository)"
        except ValueError:
            return f"`{value}`"
    if isinstance(value, SecretStr):
        return "(secret)"
    if isinstance(value, list | dict) and not value:
        return "none"
    if isinstance(value, enum.Enum):
        value = value.value
    if name.endswith("_bytes") and isinstance(value, int) and value >= MIB and value % MIB == 0:
        return f"{value} ({value // MIB} MiB)"
    if isinstance(value, int | float):
        return _number(value)
    return f"`{value}`"


def values_text(field: FieldInfo) -> str:
    """What the variable accepts, from the field's type and its ``ge``/``gt``/``le``/``lt`` bounds."""
    annotation, optional = _optional(field.annotation)
    if typing.get_origin(annotation) is typing.Literal:
        text = ", ".join(f"`{v}`" for v in typing.get_args(annotation))
    elif annotation is bool:
        text = "`true`, `false`"
    elif annotation is SecretStr:
        text = "a string (kept secret)"
    elif isinstance(annotation, type) and issubclass(annotation, Path):
        text = "a path"
    elif typing.get_origin(annotation) in (list, dict):
        text = (
            "a list (see its description)"
            if typing.get_origin(annotation) is list
            else "a mapping (see its description)"
        )
    elif annotation in (int, float):
        bounds = []
        for meta in field.metadata:
            for attr, sign in (("ge", "≥"), ("gt", ">"), ("le", "≤"), ("lt", "<")):
                if isinstance(meta, getattr(annotated_types, attr.capitalize())):
                    bounds.append(f"{sign} {_number(getattr(meta, attr))}")
        kind = "an integer" if annotation is int else "a number"
        text = f"{kind} {', '.join(bounds)}".strip()
    else:
        text = getattr(annotation, "__name__", str(annotation))
    return f"{text}; or unset" if optional else text


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def render(settings: type[BaseSettings] | None = None, repo: Path = REPO, header: str = HEADER) -> str:
    """The text of docs/settings.md for ``settings`` (default: the service's ``Settings``)."""
    if settings is None:
        from service.settings import Settings

        settings = Settings
    prefix = settings.model_config.get("env_prefix", "")
    rows = [
        f"| `{prefix}{name.upper()}` | {_cell(default_text(name, field, repo))} "
        f"| {_cell(values_text(field))} | {_cell(field.description or '')} |\n"
        for name, field in settings.model_fields.items()
    ]
    return header.format(prefix=prefix) + "".join(rows)


def render_gateway(repo: Path = REPO) -> str:
    """The text of docs/gateway-settings.md."""
    from gateway.settings import GatewaySettings

    return render(GatewaySettings, repo, GATEWAY_HEADER)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="only report whether the file is out of date")
    args = parser.parse_args(argv)
    stale = 0
    for doc, text in ((DOC, render()), (GATEWAY_DOC, render_gateway())):
        if not args.check:
            doc.write_text(text)
        elif not doc.is_file() or doc.read_text() != text:
            sys.stderr.write(f"{doc.relative_to(REPO)} is out of date: run python -m scripts.settings_doc\n")
            stale = 1
    return stale


if __name__ == "__main__":
    raise SystemExit(main())
