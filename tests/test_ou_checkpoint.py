"""benchmarks/ou_tofu_eval.py's checkpoint copy for open-unlearning's environment (transformers 4.45):
the rotary base that transformers 5 writes under `rope_parameters` is written where 4.45 reads it, or
open-unlearning would score a model with its default base (10,000) instead of the checkpoint's."""
import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import ou_tofu_eval  # noqa: E402


def checkpoint(folder: Path, rope: dict) -> Path:
    folder.mkdir()
    (folder / "model.safetensors").write_bytes(b"weights")
    (folder / "config.json").write_text(json.dumps({"model_type": "llama", "rope_parameters": rope}))
    (folder / "tokenizer_config.json").write_text(json.dumps({"tokenizer_class": "TokenizersBackend"}))
    (folder / "chat_template.jinja").write_text("{{ messages }}")
    return folder


@pytest.mark.parametrize("rope, theta, scaling", [
    ({"rope_theta": 100000.0, "rope_type": "default"}, 100000.0, None),
    ({"rope_theta": 500000.0, "rope_type": "linear", "factor": 2.0}, 500000.0, {"rope_type": "linear", "factor": 2.0}),
])
def test_the_rotary_base_is_written_where_transformers_4_reads_it(tmp_path, rope, theta, scaling):
    out = ou_tofu_eval.checkpoint_for_ou(checkpoint(tmp_path / "ckpt", rope), tmp_path / "work")
    config = json.loads((out / "config.json").read_text())
    assert config["rope_theta"] == theta and config["rope_scaling"] == scaling
    tokenizer = json.loads((out / "tokenizer_config.json").read_text())
    assert tokenizer["tokenizer_class"] == "GPT2Tokenizer" and tokenizer["chat_template"] == "{{ messages }}"
    assert (out / "model.safetensors").read_bytes() == b"weights"


def test_a_copy_made_before_the_fix_is_redone(tmp_path):
    source = checkpoint(tmp_path / "ckpt", {"rope_theta": 100000.0, "rope_type": "default"})
    out = ou_tofu_eval.checkpoint_for_ou(source, tmp_path / "work")
    stale = json.loads((out / "config.json").read_text())
    del stale["rope_theta"]
    (out / "config.json").write_text(json.dumps(stale))
    (out / "source_sha256").write_text((out / "source_sha256").read_text().replace(ou_tofu_eval.CONFIG_VERSION, ""))
    again = ou_tofu_eval.checkpoint_for_ou(source, tmp_path / "work")
    assert json.loads((again / "config.json").read_text())["rope_theta"] == 100000.0
