"""The model tables of docs/models.md are the model card's figures, as `python -m training readme` writes them."""

from contract import read_card
from training.config import DEFAULT_MODELS
from training.model_tables import END, START, TARGET, figures_markdown


def test_readme_tables_are_generated_from_the_bundled_models_card():
    text = TARGET.read_text()
    block = text.split(START, 1)[1].split(END, 1)[0].strip()
    assert block == figures_markdown(read_card(DEFAULT_MODELS)), "run: python -m training readme"
