"""The model layer: one interface to every supported VLM family.

>>> vlm = load_vlm(ModelConfig("tiny"))
>>> batch = vlm.train_batch([(image, "what color is the hair?", "the hair is red.")])
>>> loss = batch_nll(vlm.forward(batch), batch["labels"])
>>> vlm.generate([image], ["what color is the hair?"])
"""

from fiubench.models.config import ModelConfig, TuningScope
from fiubench.models.families import FamilySpec, get_family, list_families
from fiubench.models.images import load_image
from fiubench.models.loading import load_vlm
from fiubench.models.vlm import VLM

__all__ = [
    "VLM",
    "FamilySpec",
    "ModelConfig",
    "TuningScope",
    "get_family",
    "list_families",
    "load_image",
    "load_vlm",
]
