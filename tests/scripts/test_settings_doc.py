"""scripts/settings_doc.py: docs/settings.md lists every field of the service's Settings, as in the code."""

from __future__ import annotations

from pydantic import Field

from contract.layout import GATES
from contract.volume import POSTPROCESS_CHOICES
from scripts import settings_doc
from service.settings import Settings
from tests.project import REPO


def _script():
    return settings_doc


def test_the_settings_reference_is_what_the_code_gives():
    written = (REPO / "docs" / "settings.md").read_text()
    assert written == _script().render(), "run: python -m scripts.settings_doc (service/settings.py changed)"
    assert _script().main(["--check"]) == 0


def test_every_setting_is_one_row_with_its_variable_and_default():
    text = _script().render()
    rows = [line for line in text.splitlines() if line.startswith("| `MRI_")]
    assert [row.split("`")[1] for row in rows] == [f"MRI_{name.upper()}" for name in Settings.model_fields]
    by_variable = {row.split("`")[1]: row for row in rows}
    default = {name: field.default for name, field in Settings.model_fields.items()}
    size = default["max_upload_bytes"]
    assert f"| {size} ({size >> 20} MiB) | an integer > 0 |" in by_variable["MRI_MAX_UPLOAD_BYTES"]
    assert f"| {default['max_queue']} | an integer ≥ 1 |" in by_variable["MRI_MAX_QUEUE"]
    models = default["models_dir"].relative_to(REPO).as_posix()
    assert f"| `{models}/` (in the repository) | a path |" in by_variable["MRI_MODELS_DIR"]
    assert "| unset | a number ≥ 0, ≤ 1; or unset |" in by_variable["MRI_CLASSIFIER_THRESHOLD"]
    choices = ", ".join(f"`{c}`" for c in POSTPROCESS_CHOICES)
    assert f"| unset | {choices}; or unset |" in by_variable["MRI_VOLUME_POSTPROCESS"]
    gates = ", ".join(f"`{g}`" for g in GATES)
    assert f"| unset | {gates}; or unset |" in by_variable["MRI_GATE"]
    assert str(REPO) not in text, "no machine-specific path in the reference"


def test_a_new_setting_appears_by_running_the_command_again():
    class Extended(Settings):
        widgets_per_slice: int = Field(7, ge=2, description="Widgets | per slice,\n  counted.")

    text = _script().render(Extended)
    assert (
        text.splitlines()[-1]
        == "| `MRI_WIDGETS_PER_SLICE` | 7 | an integer ≥ 2 | Widgets \\| per slice, counted. |"
    )
    assert text != _script().render()
