"""The training model: augmentation and the network in one compiled step, targets read from the batch.

A :class:`TrainingModel` takes packed batches ``(B, S, S, 4)`` (:func:`training.batches.pack`),
augments them (:class:`training.augment.AugmentLayer`, training only), runs the network on the three
sequence channels and takes its targets from the augmented mask channel: the mask itself for a
``mask`` output, "any tumour pixel" for a ``tumour_probability`` output (one-hot for a two-column
softmax). Each output is returned beside its target, and :meth:`TrainingModel.compute_loss` /
:meth:`~TrainingModel.compute_metrics` separate them again, so the compiled losses and metrics
(keyed by the network's output names, as for any Keras model) see ``(target, prediction)``. The
served file is the network alone (:attr:`TrainingModel.net`).
"""

from __future__ import annotations

import keras
from keras import ops

from contract import MASK_OUTPUT, PROBABILITY_OUTPUT
from training.augment import PACKED_CHANNELS, AugmentLayer

SEGMENTER, CLASSIFIER = "segmenter", "classifier"


def _target_of(kind: str, mask, width: int):
    """The target of one output kind from the augmented mask ``(B, S, S, 1)``."""
    if kind == SEGMENTER:
        return mask
    label = ops.cast(ops.max(mask, axis=(1, 2, 3)) > 0.5, "float32")[:, None]
    return label if width == 1 else ops.concatenate([1.0 - label, label], axis=-1)


@keras.saving.register_keras_serializable(package="training")
class TrainingModel(keras.Model):
    """``net`` (one output, or the joint ``{"mask", "tumour_probability"}``) behind the augmentation
    (module docstring); ``kind``: ``segmenter`` or ``classifier`` for a one-output net."""

    def __init__(
        self,
        net: keras.Model,
        augment: dict | None = None,
        seed: int | None = None,
        kind: str | None = None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.net = net
        self.kind = kind
        self.augment_settings = dict(augment or {})
        self.seed = seed
        self.augmentation = AugmentLayer(self.augment_settings, seed, name="augmentation")
        if isinstance(net.output, dict):
            if set(net.output) != {MASK_OUTPUT, PROBABILITY_OUTPUT}:
                raise ValueError(
                    f"a net with several outputs must be joint ({MASK_OUTPUT}, {PROBABILITY_OUTPUT})"
                )
        elif kind not in (SEGMENTER, CLASSIFIER):
            raise ValueError(
                f"kind must be {SEGMENTER!r} or {CLASSIFIER!r} for a one-output net, got {kind!r}"
            )
        side = net.input_shape[1]
        self.build((None, side, side, PACKED_CHANNELS))

    def build(self, input_shape):
        self.augmentation.build(input_shape)
        self.built = True

    def call(self, packed, training=False):
        x = self.augmentation(packed, training=training)
        image, mask = x[..., :3], x[..., 3:]
        out = self.net(image, training=training)
        if isinstance(out, dict):
            kinds = {MASK_OUTPUT: SEGMENTER, PROBABILITY_OUTPUT: CLASSIFIER}
            return {name: self._with_target(kinds[name], value, mask) for name, value in out.items()}
        return self._with_target(self.kind, out, mask)

    @staticmethod
    def _with_target(kind: str, prediction, mask):
        prediction = ops.cast(prediction, "float32")
        return ops.concatenate([prediction, _target_of(kind, mask, prediction.shape[-1])], axis=-1)

    @staticmethod
    def _split(y_pred):
        """``(targets, predictions)`` of the packed outputs (each output's channels are split in half)."""

        def half(value, first: bool):
            width = value.shape[-1] // 2
            return value[..., :width] if first else value[..., width:]

        if isinstance(y_pred, dict):
            return (
                {k: half(v, False) for k, v in y_pred.items()},
                {k: half(v, True) for k, v in y_pred.items()},
            )
        return half(y_pred, False), half(y_pred, True)

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        targets, predictions = self._split(y_pred)
        return super().compute_loss(
            x=x, y=targets, y_pred=predictions, sample_weight=sample_weight, training=training
        )

    def compute_metrics(self, x, y, y_pred, sample_weight=None):
        targets, predictions = self._split(y_pred)
        return super().compute_metrics(x, targets, predictions, sample_weight)

    def build_state(self) -> None:
        """Create the optimizer's slots and the loss's and metrics' state now, eagerly, on one blank batch
        (metrics reset after). Created inside the first traced step instead, they make TensorFlow trace
        the step twice, and a trace of the augmented step costs seconds. Call after ``compile``."""
        side = self.net.input_shape[1]
        x = ops.zeros((1, side, side, PACKED_CHANNELS), "uint8")
        y_pred = self(x, training=False)
        self.compute_loss(x=x, y_pred=y_pred, training=False)
        self.compute_metrics(x, None, y_pred)
        self.reset_metrics()
        if not self.optimizer.built:
            self.optimizer.build(self.trainable_variables)

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "net": keras.saving.serialize_keras_object(self.net),
            "augment": self.augment_settings,
            "seed": self.seed,
            "kind": self.kind,
        }

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        config["net"] = keras.saving.deserialize_keras_object(config["net"], custom_objects=custom_objects)
        return cls(**config)
