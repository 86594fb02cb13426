"""``torchvision:NAME`` and ``timm:NAME``: every model either library lists, built without a download.

torchvision groups its models by task, each wanting its own input; the default input is the reference
input torchvision documents its figures (``_ops``) at: the crop size of the weights' transforms for
classification and quantization, the resize size for segmentation (520×520), ``1,3,16,H,W`` clips for
video, two 512×512 frames for optical flow (RAFT), one 800×800 image for detection (the model's own
transform resizes it). timm models carry their input size in ``pretrained_cfg``.

Nothing is downloaded: ``weights`` and ``weights_backbone`` are None (``pretrained=False`` for timm), and
while a model is built any download raises a one-line error naming what tried and where
(:mod:`archinspect.models.downloads`).
"""

from __future__ import annotations

import contextlib
import inspect as pyinspect
from collections.abc import Callable
from typing import Any

from archinspect.core.inputs import InputSpec

TASKS = ("classification", "segmentation", "detection", "video", "optical_flow", "quantization")
DETECTION_SIZE = 800  # torchvision's detection transforms resize the shorter side to 800 (max 1333)
# RAFT's frame size: torchvision does not name it, but its published _ops are exactly what two 512×512 frames
# give, for both models to the MAC (raft_small 47,655,157,760 = 47.655 G; raft_large 211,007,045,632 = 211.007 G;
# two 520×960 frames give 94.4 G and 409.2 G, because the all-pairs correlation grows with the square of H×W).
FLOW_SIZE = (512, 512)
VIDEO_FRAMES = 16  # clip length the video weights were trained and measured on


def torchvision_task(name: str) -> str:
    """The torchvision task module that lists ``name`` (``classification`` for the top-level models)."""
    import torchvision.models as tvm

    for task in TASKS[1:]:
        if name in tvm.list_models(module=getattr(tvm, task)):
            return task
    return "classification"


def _size_from(value: Any) -> int | None:
    if isinstance(value, int):
        return value
    if isinstance(value, (tuple, list)) and value:
        return int(value[0])
    return None


def torchvision_inputs(name: str, model: Any = None) -> list[InputSpec]:
    """The reference input for torchvision model ``name`` (see the module docstring).

    A model built without weights may take another size than its weights' transforms (``vit_h_14``'s
    weights are for 518×518, the model without them is 224×224): its own ``image_size`` wins.
    """
    import torchvision.models as tvm

    task = torchvision_task(name)
    if task == "detection":
        return [InputSpec((1, 3, DETECTION_SIZE, DETECTION_SIZE))]
    if task == "optical_flow":
        return [InputSpec((1, 3, *FLOW_SIZE)), InputSpec((1, 3, *FLOW_SIZE))]
    size = None
    with contextlib.suppress(Exception):
        weights = next(iter(tvm.get_model_weights(name)))
        keywords = getattr(weights.transforms, "keywords", {})
        key = "resize_size" if task == "segmentation" else "crop_size"
        size = _size_from(keywords.get(key))
    own = getattr(model, "image_size", None)
    size = own if isinstance(own, int) else (size or (520 if task == "segmentation" else 224))
    if task == "video":
        return [InputSpec((1, 3, VIDEO_FRAMES, size, size))]
    return [InputSpec((1, 3, size, size))]


def torchvision_factory(name: str, kwargs: dict[str, Any]) -> Callable[[], Any]:
    """A builder for ``name`` with no weights anywhere (backbone included); float models for quantization."""
    import torchvision.models as tvm

    builder = tvm.get_model_builder(name)
    accepted = pyinspect.signature(builder).parameters
    fixed: dict[str, Any] = {"weights": None}
    if "weights_backbone" in accepted:
        fixed["weights_backbone"] = None
    if "quantize" in accepted:
        fixed.setdefault("quantize", False)  # the float model; quantized kernels need real weights
    args = {**fixed, **kwargs}
    return lambda: builder(**args)


def timm_factory(module: Any, name: str, kwargs: dict[str, Any]) -> Callable[[], Any]:
    return lambda: module.create_model(name, pretrained=False, **kwargs)
