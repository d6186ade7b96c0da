"""Named training settings (one place for sizes, paths and hyper-parameters)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

from contract import DEFAULT_IMAGE_SIZE

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO_ROOT.parent / "shared" / "data" / "lgg" / "kaggle_3m"
DEFAULT_MODELS = REPO_ROOT / "models"
DEFAULT_RUNS = REPO_ROOT / "runs"
DEFAULT_REPORTS = REPO_ROOT / "reports"


@dataclass
class TrainConfig:
    """Settings of one training run; saved in the model card."""

    model: str  # "classifier" or "segmenter"
    data: str = str(DEFAULT_DATA)
    out: str = str(DEFAULT_MODELS)
    runs: str = str(DEFAULT_RUNS)
    image_size: int = DEFAULT_IMAGE_SIZE
    epochs: int = 30
    batch_size: int = 16
    learning_rate: float = 1e-3
    warmup_epochs: int = 1
    patience: int = 6
    seed: int = 42
    split_fractions: tuple[float, float, float] = (0.7, 0.15, 0.15)
    architecture: str = "compact"  # classifier only
    weights: str | None = None  # classifier (resnet50) only: path to ImageNet weights
    loss: str = "dice_bce"  # segmenter only: "dice_bce" or "focal_tversky"
    healthy_fraction: float = 0.3  # segmenter only: share of healthy slices drawn each epoch
    max_slices: int | None = None  # cap per split part, for smoke runs
    init_weights: str | None = None  # start from these weights (a .keras or .weights.h5 file)
    max_minutes: float = 0.0  # stop after the epoch that passes this wall-clock budget (0 = no limit)
    augment: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.model not in ("classifier", "segmenter"):
            raise ValueError(f"model must be 'classifier' or 'segmenter', got {self.model!r}")
        if self.epochs < 1 or self.batch_size < 1:
            raise ValueError("epochs and batch_size must be positive")

    def as_dict(self) -> dict:
        return asdict(self)
