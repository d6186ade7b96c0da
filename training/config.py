"""Named training settings (one place for sizes, paths and hyper-parameters)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

from contract import DEFAULT_INPUT_SIZE, JOINT_FILE

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO_ROOT.parent / "shared" / "data" / "lgg" / "kaggle_3m"
DEFAULT_MODELS = REPO_ROOT / "models"
DEFAULT_RUNS = REPO_ROOT / "runs"
DEFAULT_REPORTS = REPO_ROOT / "reports"
DEFAULT_RECIPES = REPO_ROOT / "training" / "recipes"
#: The recipe ``python -m training choose`` starts from; every other recipe says in its own ``[choose]``
#: table what it is weighed against (:func:`read_choice`), so a new recipe needs no code.
BASE_RECIPE = "joint128"


#: The file a training run saves its network in, by model kind: a joint run's is a served model file
#: (both outputs); a classifier's or segmenter's is one half of one (``python -m training wrap``).
NETWORK_FILES = {"classifier": "classifier.keras", "segmenter": "segmenter.keras", "joint": JOINT_FILE}


def _option(default, help: str):
    """A setting with its command-line help text (``python -m training train --help``)."""
    return field(default=default, metadata={"help": help})


MODEL_KINDS = ("classifier", "segmenter", "joint")
PRECISIONS = ("auto", "float32", "mixed_bfloat16", "mixed_float16")
KEEP = ("best", "last")


@dataclass
class TrainConfig:
    """Settings of one training run; saved in the model card."""

    model: str  # one of MODEL_KINDS; "joint" trains the ResUNet with a classification head
    data: str = _option(
        str(DEFAULT_DATA), "the LGG folder (kaggle_3m layout: one folder per patient, slices and _mask files)"
    )
    out: str = _option(
        str(DEFAULT_RUNS / "candidate"),
        "where the run's network, split.json and card are written: a candidate folder (the served folder "
        "changes only through python -m training promote)",
    )
    runs: str = _option(
        str(DEFAULT_RUNS), "parent of the run folder <runs>/<model>/ (checkpoints, state, log.csv)"
    )
    image_size: int = _option(
        DEFAULT_INPUT_SIZE, "model input size in pixels (slices are resized to it; a multiple of 32)"
    )
    epochs: int = _option(30, "total epochs of the run (the cosine schedule spans all of them)")
    batch_size: int = _option(16, "slices per training step")
    learning_rate: float = _option(1e-3, "peak learning rate (Adam)")
    warmup_epochs: int = _option(1, "epochs of linear warm-up before the cosine decay of the learning rate")
    patience: int = _option(0, "stop after this many epochs without a better validation figure (0: never)")
    seed: int = _option(42, "seed of the patient split, data order and augmentation")
    split_fractions: tuple[float, float, float] = (0.7, 0.15, 0.15)
    weights: str | None = _option(
        None, "classifier only: a trained segmenter.keras whose encoder weights start the classifier"
    )
    loss: str = _option("dice_bce", "segmenter and joint: dice_bce or focal_tversky")
    healthy_fraction: float = _option(
        0.3, "segmenter and joint: share of healthy slices drawn each epoch (all tumour slices are)"
    )
    label_weight: float = _option(0.5, "joint only: weight of the slice-label loss beside the mask loss")
    max_slices: int | None = _option(None, "cap on slices per split part, for smoke runs")
    init_weights: str | None = _option(
        None,
        "start from these weights (.keras or .weights.h5); layers are matched by name across model kinds",
    )
    max_minutes: float = _option(
        0.0, "stop after the epoch that passes this wall-clock budget (0: no limit); --resume continues"
    )
    keep: str = _option(
        "best",
        '"best": each served model from its best validation epoch; "last": from the last epoch (cross-'
        "validation folds, whose held-out patients must not choose anything)",
    )
    workers: int = _option(1, "threads preparing (augmenting) training batches")
    validate_every: int = _option(
        1,
        "validate every N epochs (and after the last); keep=best needs 1, keep=last only watches the curves",
    )
    precision: str = _option(
        "auto",
        'Keras dtype policy of the training step: "auto" (mixed_bfloat16 on a GPU under JAX, else float32), '
        '"float32", "mixed_bfloat16" or "mixed_float16"; the saved network computes in float32 either way',
    )
    augment: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.model not in MODEL_KINDS:
            raise ValueError(f"model must be one of {MODEL_KINDS}, got {self.model!r}")
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS}, got {self.precision!r}")
        if self.keep not in KEEP:
            raise ValueError(f"keep must be one of {KEEP}, got {self.keep!r}")
        if self.validate_every < 1 or (self.keep == "best" and self.validate_every != 1):
            raise ValueError("validate_every must be >= 1, and 1 when the best validation epoch is kept")
        if self.epochs < 1 or self.batch_size < 1 or self.workers < 1:
            raise ValueError("epochs, batch_size and workers must be positive")

    def as_dict(self) -> dict:
        return asdict(self)


#: Fields a recipe file does not set: where the data, the models and the runs are.
PLACE_FIELDS = ("data", "out", "runs", "max_minutes", "workers")


#: Keys of a recipe's ``[choose]`` table: ``replaces`` (the recipe it would replace as the three-sequence
#: recipe, if its out-of-fold Dice gain's interval lies above 0), ``question`` (the decision's key in the card),
#: ``label`` (its line in docs/models.md), ``flair_members_of`` (it trains FLAIR-only members of that recipe).
CHOICE_KEYS = ("replaces", "question", "label", "flair_members_of")


def _recipe_file(path: str | Path) -> dict:
    import tomllib

    return tomllib.loads(Path(path).read_text())


def read_choice(path: str | Path) -> dict:
    """A recipe's ``[choose]`` table (:data:`CHOICE_KEYS`; empty when it has none); unknown keys are refused."""
    choice = _recipe_file(path).get("choose", {})
    unknown = sorted(set(choice) - set(CHOICE_KEYS))
    if unknown:
        raise ValueError(f"{path}: unknown [choose] keys {unknown} (known: {list(CHOICE_KEYS)})")
    if "replaces" in choice and "question" not in choice:
        raise ValueError(f"{path}: a recipe that replaces another names its question ([choose] question)")
    return choice


def discover_recipes(folder: str | Path = DEFAULT_RECIPES) -> dict[str, dict]:
    """Every recipe of ``folder`` by name (file stem), with its ``[choose]`` table."""
    return {path.stem: read_choice(path) for path in sorted(Path(folder).glob("*.toml"))}


def read_recipe(path: str | Path) -> dict:
    """A training recipe (TOML, ``training/recipes/*.toml``): the :class:`TrainConfig` fields of one
    recipe, with ``augment`` as a table (its ``[choose]`` table is :func:`read_choice`'s). Unknown or
    place fields (:data:`PLACE_FIELDS`) are refused."""
    options = _recipe_file(path)
    options.pop("choose", None)
    known = {f for f in TrainConfig.__dataclass_fields__ if f not in PLACE_FIELDS}
    unknown = sorted(set(options) - known)
    if unknown:
        raise ValueError(f"{path}: unknown recipe settings {unknown} (known: {sorted(known)})")
    if "model" not in options:
        raise ValueError(f"{path}: a recipe names its model ({MODEL_KINDS})")
    if "split_fractions" in options:
        options["split_fractions"] = tuple(options["split_fractions"])
    return options
