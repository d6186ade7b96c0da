"""Augmentation inside the compiled training step: Keras ops only, so it runs where the model runs
(the GPU under JAX, the CPU under TensorFlow) with no per-slice Python work.

:class:`Augment` holds the settings (a recipe's ``[augment]`` table, recorded in the card);
:class:`AugmentLayer` applies them to a batch packed as ``(B, S, S, 4)``: the three sequences as
0..255 grey levels and the tumour mask (0/1) as a fourth channel, so that every geometric change
moves image and mask together. Outside training the layer passes the batch through unchanged.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import keras
from keras import ops

from contract import FLAIR_CHANNEL
from imaging.windowing import HIGH_PERCENTILE, LOW_PERCENTILE

#: Channels of a packed batch: the three sequences, then the mask.
PACKED_CHANNELS = 4
#: Pixels per side of the regular subsample whose percentiles stand for a slice's in the window (a sort
#: of every pixel of every channel costs more than the network's step on a CPU; the window's bounds are
#: jittered by up to ``window_jitter`` of the range anyway).
PERCENTILE_SIDE = 32


@dataclass(frozen=True)
class Augment:
    """Augmentation ranges: flips, rotation (degrees), scaling, intensity jitter, upload windowing, FLAIR only.

    Geometric changes are applied identically to image and mask (bilinear; the mask is thresholded
    at 0.5 again); intensity jitter multiplies each channel by ``1 +- gain`` and adds ``+- shift``
    grey levels. With probability ``windowed`` the slice goes through what a 16-bit upload goes
    through: a gamma in ``[1 / (1 + gamma), 1 + gamma]`` (another scanner's contrast curve), then the
    service's percentile window (:mod:`imaging.windowing`) per channel, half the time with its
    bounds moved by up to ``window_jitter`` of the range (a window taken over the whole volume rather
    than the slice). With probability ``flair_only`` the slice becomes its FLAIR channel repeated
    three times, which is how the service reads a greyscale upload (a single-sequence DICOM, a grey
    PNG), so that such input is not out of distribution. Intensities come back as whole grey levels,
    as an upload is read.
    """

    flip: bool = True
    rotation: float = 10.0
    scale: float = 0.1
    gain: float = 0.1
    shift: float = 10.0
    flair_only: float = 0.2
    windowed: float = 0.2
    gamma: float = 0.4
    window_jitter: float = 0.15

    def __post_init__(self) -> None:
        for name in ("flair_only", "windowed"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be a probability in [0, 1], got {getattr(self, name)}")
        if self.gamma < 0 or not 0 <= self.window_jitter < 0.5:
            raise ValueError("gamma must be >= 0 and window_jitter in [0, 0.5)")
        if self.rotation < 0 or not 0 <= self.scale < 1 or self.gain < 0 or self.shift < 0:
            raise ValueError("rotation, gain and shift must be >= 0 and scale in [0, 1)")


@keras.saving.register_keras_serializable(package="training")
class AugmentLayer(keras.layers.Layer):
    """:class:`Augment` on packed ``(B, S, S, 4)`` batches (module docstring), float32 out.

    Its randomness comes from ``seed_generator`` (saved with the model, reseeded per epoch by
    :class:`training.callbacks.ReseedLayers`), so a resumed run draws what the uncut run drew.
    """

    def __init__(self, settings: dict | None = None, seed: int | None = None, **kwargs):
        kwargs.setdefault("dtype", "float32")  # grey levels, whatever the model's precision policy
        super().__init__(**kwargs)
        self.augment = Augment(**(settings or {}))
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def get_config(self) -> dict:
        return {**super().get_config(), "settings": asdict(self.augment), "seed": self.seed}

    def compute_output_shape(self, input_shape):
        return input_shape

    def _uniform(self, shape, low: float, high: float):
        return keras.random.uniform(shape, low, high, seed=self.seed_generator)

    def _coin(self, batch, probability: float):
        return self._uniform((batch, 1, 1, 1), 0.0, 1.0) < probability

    def call(self, packed, training=False):
        x = ops.cast(packed, "float32")
        if not training:
            return x
        a, batch, size = self.augment, ops.shape(x)[0], x.shape[1]
        if a.flip:
            x = ops.where(self._coin(batch, 0.5), ops.flip(x, axis=2), x)
        if a.rotation or a.scale:
            x = self._rotate_and_scale(x, batch, size)
        image, mask = x[..., :3], ops.cast(x[..., 3:] >= 0.5, "float32")
        image = ops.clip(
            image * self._uniform((batch, 1, 1, 3), 1 - a.gain, 1 + a.gain)
            + self._uniform((batch, 1, 1, 3), -a.shift, a.shift),
            0.0,
            255.0,
        )
        if a.windowed > 0:
            image = self._window_some(image, batch)
        image = ops.round(image)
        if a.flair_only > 0:
            flair = ops.repeat(image[..., FLAIR_CHANNEL : FLAIR_CHANNEL + 1], 3, axis=-1)
            image = ops.where(self._coin(batch, a.flair_only), flair, image)
        return ops.concatenate([image, mask], axis=-1)

    def _rotate_and_scale(self, x, batch, size: int):
        """A rotation in ``+- rotation`` degrees and a scaling in ``1 +- scale`` about the centre (zeros outside)."""
        a = self.augment
        angle = self._uniform((batch,), -a.rotation, a.rotation) * (math.pi / 180.0)
        scale = 1.0 + self._uniform((batch,), -a.scale, a.scale)
        cos, sin = ops.cos(angle) / scale, ops.sin(angle) / scale
        centre = (size - 1) / 2.0
        zero = ops.zeros_like(cos)
        # output pixel (x, y) reads input ((cos x + sin y + c0) , (-sin x + cos y + c1)): the inverse map
        transform = ops.stack(
            [cos, sin, centre - centre * (cos + sin), -sin, cos, centre - centre * (cos - sin), zero, zero],
            axis=1,
        )
        return ops.image.affine_transform(
            x,
            transform,
            interpolation="bilinear",
            fill_mode="constant",
            fill_value=0.0,
            data_format="channels_last",
        )

    def _window_some(self, image, batch):
        """:meth:`_window` on ``ceil(windowed x batch)`` slices drawn at random, the others unchanged: a fixed
        count rather than a coin per slice, so that only those slices are computed (static shapes)."""
        if image.shape[0] is not None:  # static under JAX (a traced slice bound is refused there)
            count = math.ceil(image.shape[0] * self.augment.windowed)
        else:
            count = ops.cast(ops.ceil(ops.cast(batch, "float32") * self.augment.windowed), "int32")
        chosen = ops.argsort(self._uniform((batch,), 0.0, 1.0))[:count]
        windowed = self._window(ops.take(image, chosen, axis=0), ops.shape(chosen)[0])
        return ops.scatter_update(image, ops.expand_dims(chosen, -1), windowed)

    def _window(self, image, batch):
        """A gamma curve, then each channel's percentile window (bounds jittered half the time; percentiles of
        a regular subsample of the slice, :data:`PERCENTILE_SIDE`)."""
        a = self.augment
        exponent = ops.power(1.0 + a.gamma, self._uniform((batch, 1, 1, 1), -1.0, 1.0))
        curved = 255.0 * ops.exp(ops.log(ops.maximum(image / 255.0, 1e-6)) * exponent)
        step = max(1, curved.shape[1] // PERCENTILE_SIDE)
        sample = ops.reshape(curved[:, ::step, ::step, :], (batch, -1, 3))
        bounds = ops.quantile(sample, [LOW_PERCENTILE / 100, HIGH_PERCENTILE / 100], axis=1)
        low, high = bounds[0], bounds[1]  # (B, 3)
        span = ops.maximum(high - low, 1.0)
        moved = self._uniform((batch, 1), 0.0, 1.0) < 0.5
        jitter = a.window_jitter
        low = ops.where(moved, low + span * self._uniform((batch, 3), -jitter, jitter), low)[:, None, None, :]
        high = ops.where(moved, high + span * self._uniform((batch, 3), -jitter, jitter), high)[
            :, None, None, :
        ]
        # a step at low (0 / 255) when high <= low, as imaging.windowing.linear_window
        gain = ops.where(high > low, 255.0 / ops.maximum(high - low, 1e-6), 1e6)
        return ops.clip((curved - low) * gain, 0.0, 255.0)
