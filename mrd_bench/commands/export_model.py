"""`mrd-bench export-model`: a model (e.g. the embedded GGUF) as a safetensors checkpoint."""
from __future__ import annotations

from dataclasses import dataclass

from mrd_bench.commands import no_progress_opt, overwrite_opt
from mrd_bench.config import opt
from mrd_bench.models import EMBEDDED


@dataclass(frozen=True)
class Config:
    model: str = opt(EMBEDDED, "hub id, checkpoint folder, or the embedded model")
    out: str = opt(None, "checkpoint folder to write", required=True)
    dtype: str = opt("float32", "float32, bfloat16 or float16")
    overwrite: bool = overwrite_opt()
    no_progress: bool = no_progress_opt()


def run(c: Config) -> None:
    from mrd_bench.models import export_model

    out = export_model(c.model, c.out, dtype=c.dtype, overwrite=c.overwrite)
    print(f"Wrote a safetensors checkpoint to {out}; lm-eval loads it with "
          f"--model hf --model_args pretrained={out}")
