"""Recipes are files: each one's [choose] table says what it is weighed against, so a new one needs no code."""

from pathlib import Path

import pytest

from training.config import DEFAULT_RECIPES, TrainConfig, discover_recipes, read_choice, read_recipe


def test_every_bundled_recipe_reads_and_names_a_recipe_that_exists():
    recipes = discover_recipes(DEFAULT_RECIPES)
    assert "joint128" in recipes
    for name, choice in recipes.items():
        TrainConfig(**{**read_recipe(DEFAULT_RECIPES / f"{name}.toml"), "keep": "last"})
        for key in ("replaces", "flair_members_of"):
            assert choice.get(key, "joint128") in recipes, f"{name}: {key} names no recipe"
    assert recipes["joint256"] == {
        "replaces": "joint128",
        "question": "input_size",
        "label": "256 px instead of 128 (4x compute)",
    }


def test_a_new_recipe_is_found_and_a_bad_choose_table_is_refused(tmp_path: Path):
    (tmp_path / "base.toml").write_text('model = "joint"\n')
    (tmp_path / "wider.toml").write_text('model = "joint"\n[choose]\nreplaces = "base"\nquestion = "width"\n')
    assert discover_recipes(tmp_path) == {"base": {}, "wider": {"replaces": "base", "question": "width"}}
    assert read_recipe(tmp_path / "wider.toml") == {"model": "joint"}
    (tmp_path / "bad.toml").write_text('model = "joint"\n[choose]\nreplace = "base"\n')
    with pytest.raises(ValueError, match="unknown \\[choose\\] keys"):
        read_choice(tmp_path / "bad.toml")
    (tmp_path / "bad.toml").write_text('model = "joint"\n[choose]\nreplaces = "base"\n')
    with pytest.raises(ValueError, match="question"):
        read_choice(tmp_path / "bad.toml")
