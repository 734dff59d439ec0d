"""Checkpoint folders that mrd_bench writes: exported models, fine-tuned and unlearned ones.
Written aside and swapped in whole, so an interrupted save never leaves a mix."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

from mrd_bench.io import write_json
from mrd_bench.outputs import folder_target, replacing


# What a checkpoint folder written by mrd-bench holds: its manifest (outputs.MANIFEST) lists the
# files; these patterns recognise one an earlier version wrote without it.
EXPORT_RECORD = "export_record.json"
CHECKPOINT_FILES = ("config.json", "generation_config.json", "model.safetensors", "model.safetensors.index.json",
                    "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "chat_template.jinja",
                    "vocab.json", "merges.txt", "tokenizer.model", "added_tokens.json", "run_record.json",
                    EXPORT_RECORD, "model-*-of-*.safetensors")
CHECKPOINT = {"what": "files", "kind": "checkpoint", "legacy": CHECKPOINT_FILES}


def checkpoint_target(out: str | os.PathLike, overwrite: bool, inputs: Optional[dict] = None) -> Path:
    """Check a checkpoint folder before any work (outputs.folder_target): an occupied one needs
    --overwrite, and even then it must hold only a checkpoint's own files."""

    return folder_target(out, overwrite, inputs=inputs, **CHECKPOINT)


def save_checkpoint(model, tokenizer, out: str | os.PathLike, extra: Optional[dict] = None) -> Path:
    """A safetensors checkpoint (+ `extra` JSON files by name) into `out`, written aside and
    swapped in whole (outputs.replacing): an interrupted save leaves the old checkpoint or the
    new one, never a mix, and a replaced checkpoint's own files are the only ones removed."""

    with replacing(out, **CHECKPOINT) as tmp:
        model.save_pretrained(tmp, safe_serialization=True)
        tokenizer.save_pretrained(tmp)
        for name, obj in (extra or {}).items():
            write_json(tmp / name, obj)
    return Path(out)
