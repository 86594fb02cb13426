"""``torchvision:NAME`` and ``timm:NAME``: every model either library lists, built without a download.

torchvision groups its models by task, each wanting its own input; the default input is the reference
input torchvision documents its figures (``_ops``) at: the crop size of the weights' transforms for
classification and quantization, the resize size for segmentation (520×520), ``1,3,16,H,W`` clips for
video, two 512×512 frames for optical flow (RAFT), one 800×800 image for detection (the model's own
transform resizes it). timm models carry their input size in ``pretrained_cfg``.

Nothing is downloaded: ``weights`` and ``weights_backbone`` are None (``pretrained=False`` for timm), and
while a model is built every download route torch and the hub offer raises a one-line error naming
what tried and which URL.
"""

from __future__ import annotations

import contextlib
import inspect as pyinspect
import traceback
from collections.abc import Callable, Iterator
from typing import Any

from archinspect.core.inputs import InputSpec
from archinspect.errors import ModelRunError

TASKS = ("classification", "segmentation", "detection", "video", "optical_flow", "quantization")
DETECTION_SIZE = 800  # torchvision's detection transforms resize the shorter side to 800 (max 1333)
# RAFT's frame size: torchvision does not name it, but its published _ops are exactly what two 512×512 frames
# give, for both models to the MAC (raft_small 47,655,157,760 = 47.655 G; raft_large 211,007,045,632 = 211.007 G;
# two 520×960 frames give 94.4 G and 409.2 G, because the all-pairs correlation grows with the square of H×W).
FLOW_SIZE = (512, 512)
VIDEO_FRAMES = 16  # clip length the video weights were trained and measured on


class DownloadBlocked(ModelRunError):
    """A model's builder tried to download something; archinspect never does."""


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


def _blocked(what: str) -> Callable[..., Any]:
    def refuse(*args: Any, **kwargs: Any) -> Any:
        url = next((a for a in [*args, *kwargs.values()] if isinstance(a, str) and "://" in a), None)
        url = url or next((str(a) for a in args if isinstance(a, str)), "?")
        caller = _caller()
        raise DownloadBlocked(
            f"{caller} tried to download {url} (via {what}); archinspect never downloads: "
            "build without pretrained weights (weights=None) or load the file yourself"
        )

    return refuse


def _caller() -> str:
    """``torchvision/models/_api.py:93`` — the innermost frame outside torch.hub, urllib and this module."""
    for frame in reversed(traceback.extract_stack()[:-2]):
        path = frame.filename.replace("\\", "/")
        if "/torch/hub.py" in path or "/urllib/" in path or path.endswith("models/library.py"):
            continue
        parts = path.split("/site-packages/")
        return f"{parts[-1]}:{frame.lineno}"
    return "the model's builder"


@contextlib.contextmanager
def no_downloads() -> Iterator[None]:
    """Every download route torch.hub, urllib and huggingface_hub offer raises :class:`DownloadBlocked`."""
    import sys
    import urllib.request

    import torch.hub

    targets: list[tuple[Any, str]] = [
        (torch.hub, "download_url_to_file"),
        (torch.hub, "load_state_dict_from_url"),
        (urllib.request, "urlopen"),
        (urllib.request, "urlretrieve"),
    ]
    for mod_name in ("huggingface_hub", "huggingface_hub.file_download"):
        mod, attr = sys.modules.get(mod_name), "hf_hub_download"
        if mod is not None and hasattr(mod, attr):
            targets.append((mod, attr))
    for mod_name in list(sys.modules):  # names bound by `from torch.hub import load_state_dict_from_url`
        if mod_name.startswith(("torchvision", "timm")):
            mod = sys.modules[mod_name]
            for attr in ("load_state_dict_from_url", "download_url_to_file"):
                if hasattr(mod, attr):
                    targets.append((mod, attr))
    saved = [(mod, attr, getattr(mod, attr)) for mod, attr in targets]
    try:
        for mod, attr, original in saved:
            setattr(mod, attr, _blocked(f"{getattr(original, '__module__', mod.__name__)}.{attr}"))
        yield
    finally:
        for mod, attr, original in saved:
            setattr(mod, attr, original)
