"""GET /v2/models: the served models, their input spec, thresholds and test metrics."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from contract.spec import CHANNELS, INPUT_RANGE
from service.dependencies import ModelsDep, require_api_key
from service.devices import inference_device
from service.inference import LoadedModels, ModelRunner
from service.runtimes.base import FLOAT32
from service.runtimes.selection import Trial
from service.schemas import (
    DeviceInfo,
    FlairPath,
    InputSpec,
    ModelInfo,
    ModelList,
    RuntimeChoice,
    RuntimeTrial,
)

router = APIRouter(prefix="/v2", tags=["models"], dependencies=[Depends(require_api_key)])


def model_info(runner: ModelRunner, flair: ModelRunner | None = None) -> ModelInfo:
    """What the service reports about one role (card fields where the card has them); ``flair``: the
    runner of the same role on FLAIR-only input."""
    metrics = (runner.card.get("metrics") or {}).get("test")
    parameters = runner.card.get("parameters")
    return ModelInfo(
        role=runner.role,  # type: ignore[arg-type]
        name=runner.name,
        version=runner.version,
        architecture=runner.card.get("architecture"),
        parameters=int(parameters) if parameters is not None else None,
        input=InputSpec(
            shape=[None, runner.input_size, runner.input_size, 3],
            dtype="float32",
            channels=list(CHANNELS),
            range=list(INPUT_RANGE),
        ),
        threshold=runner.threshold,
        metrics=metrics,
        file=runner.runner.file,
        output=runner.output,
        flair_only=FlairPath(file=flair.runner.file, version=flair.version, threshold=flair.threshold)
        if flair is not None and (flair.runner is not runner.runner or flair.threshold != runner.threshold)
        else None,
    )


@router.get("/models", response_model=ModelList)
async def list_models(models: ModelsDep) -> ModelList:
    """Both roles: name, version (content hash), input spec, threshold, test metrics; the runtime, its
    threads and precision and how they were chosen; test-time augmentation; the devices."""
    roles = [model_info(runner, models.roles[(runner.role, "flair")]) for runner in models.runners()]
    selection = models.selection
    assert selection is not None  # set by load_models
    chosen = selection.chosen
    choice = RuntimeChoice(
        measured=selection.measured,
        cores=selection.cores,
        cores_per_call=selection.cores_per_call,
        seconds=round(selection.seconds, 2),
        candidates=[_trial(t) for t in selection.trials],
    )
    return ModelList(
        models=roles,
        gate=models.gate,
        intra_op_threads=chosen.threads,
        precision=chosen.precision or FLOAT32,
        runtime_choice=choice,
        tta=models.tta,
        tta_source=models.tta_source,
        **device_report(models),
    )


def _trial(trial: Trial) -> RuntimeTrial:
    c = trial.candidate
    return RuntimeTrial(
        runtime=c.runtime,
        threads=c.threads,
        precision=c.precision or FLOAT32,
        ms=None if trial.ms is None else round(trial.ms, 2),
        refused=trial.refused,
    )


def device_report(models: LoadedModels) -> dict:
    """``runtime``, ``devices`` and ``inference_device`` of :class:`ModelList` (also in the OIP model metadata)."""
    return {
        "runtime": models.runtime,
        "devices": [DeviceInfo(name=d.name, type=d.type) for d in models.devices],
        "inference_device": inference_device(models.devices),
    }
