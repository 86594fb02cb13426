"""The environment header: device, versions, and every setting that changes the numbers."""

from __future__ import annotations

import os
import platform
import sys

import torch

from archinspect.bench.cuda import device_header
from archinspect.bench.result import Environment


def cpu_name() -> str:
    """The CPU model from /proc/cpuinfo where there is one, else what ``platform`` says."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "cpu"


def collect_environment(device: torch.device) -> Environment:
    """Read the settings in effect now (call it with the benchmark's thread count already set)."""
    common = {
        "device": str(device),
        "torch_version": torch.__version__,
        "python_version": platform.python_version(),
        "platform": f"{platform.system()} {platform.machine()}",
        "threads": torch.get_num_threads(),
        "interop_threads": torch.get_num_interop_threads(),
        "float32_matmul_precision": torch.get_float32_matmul_precision(),
        "cpu_count": os.cpu_count(),
        "load_average": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
    }
    if device.type == "cuda":
        return Environment(**common, **device_header(device), cudnn_benchmark=bool(torch.backends.cudnn.benchmark))
    return Environment(**common, device_name=cpu_name() + (f" ({sys.platform})" if sys.platform != "linux" else ""))
