"""What goes into every result file so that it can be reproduced: versions, hardware, hashes."""
from __future__ import annotations

import hashlib
import json
import os
import platform
import sys
from datetime import datetime, timezone
from importlib import metadata

from mrd_bench.errors import ConfigError

PACKAGES = ("mrd_bench", "torch", "transformers", "datasets", "accelerate", "lm_eval", "numpy")


def versions() -> dict[str, str]:
    out = {"python": sys.version.split()[0]}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name.replace("_", "-"))
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def hardware() -> dict:
    import torch

    info = {"platform": platform.platform(), "machine": platform.machine(),
            "cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads(),
            "cuda": torch.cuda.is_available()}
    if torch.cuda.is_available():
        info["gpu"] = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    return info


def data_hash(rows) -> str:
    """sha256 over the rows' JSON, in order: changes whenever any field of any sample does."""
    digest = hashlib.sha256()
    for row in rows:
        digest.update(json.dumps(row, sort_keys=True, ensure_ascii=False, default=str).encode())
        digest.update(b"\n")
    return digest.hexdigest()


def now() -> str:
    """The UTC time stamped into outputs, to the second. With SOURCE_DATE_EPOCH set (the
    reproducible-builds convention) it is that time, so a rebuild of a committed output can be
    compared byte for byte with the committed one."""
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    if epoch:
        try:
            moment = datetime.fromtimestamp(int(epoch), timezone.utc)
        except (ValueError, OverflowError, OSError):
            raise ConfigError(f"SOURCE_DATE_EPOCH={epoch!r} is not a Unix time in seconds; set it to an "
                             "integer such as 1796515200, or unset it.") from None
        return moment.isoformat(timespec="seconds")
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def record(**extra) -> dict:
    """The provenance block of a result file; `extra` adds seeds, hashes and configs."""
    return {"created": now(),
            "versions": versions(), "hardware": hardware(), **extra}
