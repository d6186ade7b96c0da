"""The model-file contract shared by ``training/`` (which writes models) and ``service/`` (which serves them).

Everything both sides must agree on lives here and nowhere else: file names in the models folder,
the input spec (size, channels, value range), the preprocessing that turns a decoded slice into a
model input, how model outputs are read (probability, mask), and the model card format.
"""

from contract.spec import (
    CARD_FILE,
    CARD_TEXT_FILE,
    CHANNELS,
    DEFAULT_INPUT_SIZE,
    FLAIR_CHANNEL,
    FLAIR_FILE,
    INPUT_RANGE,
    JOINT_FILE,
    JOINT_OUTPUTS,
    MASK_OUTPUT,
    NATIVE_SLICE_SIZE,
    PROBABILITY_OUTPUT,
    SEQUENCES_ALL,
    SEQUENCES_FLAIR_ONLY,
    SPLIT_FILE,
    file_version,
    flair_only,
    mask_from_probabilities,
    read_card,
    to_model_input,
    tumour_probability,
    write_card,
)

__all__ = [
    "CARD_FILE",
    "CARD_TEXT_FILE",
    "CHANNELS",
    "DEFAULT_INPUT_SIZE",
    "FLAIR_CHANNEL",
    "FLAIR_FILE",
    "INPUT_RANGE",
    "JOINT_FILE",
    "JOINT_OUTPUTS",
    "MASK_OUTPUT",
    "NATIVE_SLICE_SIZE",
    "PROBABILITY_OUTPUT",
    "SEQUENCES_ALL",
    "SEQUENCES_FLAIR_ONLY",
    "SPLIT_FILE",
    "file_version",
    "flair_only",
    "mask_from_probabilities",
    "read_card",
    "to_model_input",
    "tumour_probability",
    "write_card",
]
