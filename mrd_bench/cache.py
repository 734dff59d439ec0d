"""Where mrd_bench keeps what it downloads, exports and locks: $MRD_BENCH_CACHE, or
~/.cache/mrd_bench."""
from __future__ import annotations

import os
from pathlib import Path

from mrd_bench.errors import ConfigError


def cache_dir() -> Path:
    return Path(os.environ.get("MRD_BENCH_CACHE") or Path.home() / ".cache" / "mrd_bench")


def usable_cache(sub: str = "locks") -> Path:
    """`cache_dir() / sub`, created and written to once: an unusable cache (a file, a read-only or
    virtual folder) is one error naming the variable that chose it, before any work."""
    import tempfile

    folder = cache_dir() / sub
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as err:
        origin = "$MRD_BENCH_CACHE" if os.environ.get("MRD_BENCH_CACHE") else "$HOME/.cache/mrd_bench"
        raise ConfigError(f"the mrd_bench cache folder {str(cache_dir())!r} (from {origin}) cannot be used: "
                          f"{str(folder)!r} cannot be written ({err.strerror or err}); point MRD_BENCH_CACHE at a "
                          "folder you can write to.") from None
    return folder
