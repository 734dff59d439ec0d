import pytest
import torch

from mrd_bench.errors import ModelError
from mrd_bench.models import IGNORE, collate, encode_qa, format_prompt, load_model, weights_hash


def test_qa_format_masks_everything_but_the_answer(tokenizer):
    enc = encode_qa(tokenizer, "Where was the author born?", "In Tartu.")
    scored = [t for t, label in zip(enc.input_ids, enc.labels) if label != IGNORE]
    assert tokenizer.decode(scored) == " In Tartu.</s>"
    prompt = [t for t, label in zip(enc.input_ids, enc.labels) if label == IGNORE]
    assert tokenizer.decode(prompt) == "<s>Question: Where was the author born?\nAnswer:"


def test_chat_template_is_used_where_the_tokenizer_has_one(tokenizer):
    chat = tokenizer.__class__(tokenizer_object=tokenizer.backend_tokenizer, eos_token="</s>",
                               pad_token="<pad>")
    chat.chat_template = "{% for m in messages %}<s>{{ m['content'] }}</s>{% endfor %}Reply:"
    assert format_prompt(chat, "Hi?") == "<s>Hi?</s>Reply:"
    enc = encode_qa(chat, "Hi?", "Yes.")
    assert chat.decode([t for t, label in zip(enc.input_ids, enc.labels) if label != IGNORE]) == "Yes.</s>"


def test_score_prompt_scores_all_but_the_first_token(tokenizer):
    enc = encode_qa(tokenizer, "Who?", "Me.", score_prompt=True)
    assert enc.labels[0] == IGNORE and all(label != IGNORE for label in enc.labels[1:])


def test_collate_pads_right_and_ignores_padding(tokenizer):
    a, b = encode_qa(tokenizer, "Who?", "Me."), encode_qa(tokenizer, "Who is it?", "It is me, really.")
    batch = collate([a, b], pad_id=0)
    assert batch["input_ids"].shape == (2, len(b.input_ids))
    assert batch["attention_mask"][0].sum() == len(a.input_ids)
    assert (batch["labels"][0, len(a.input_ids):] == IGNORE).all()


def test_missing_model_path_is_a_model_error(tmp_path):
    with pytest.raises(ModelError, match="does not exist"):
        load_model(str(tmp_path / "no-such-model"))


def test_local_checkpoint_loads_and_hash_tracks_weights(tiny_checkpoint):
    model, tok = load_model(str(tiny_checkpoint))
    before = weights_hash(model)
    assert before == weights_hash(load_model(str(tiny_checkpoint))[0])
    with torch.no_grad():
        next(model.parameters())[0, 0] += 1e-6
    assert weights_hash(model) != before
    assert tok.pad_token is not None


def test_overwrite_replaces_a_checkpoint_but_never_a_users_files(tmp_path, tokenizer):
    """--overwrite replaces a checkpoint's own files; a folder holding anything else is refused
    untouched, and files the new save does not write (a stale record) are removed."""
    import os

    from mrd_bench.errors import OutputExistsError
    from mrd_bench.checkpoints import checkpoint_target, save_checkpoint
    from mrd_bench.outputs import MANIFEST
    from tests.conftest import build_model

    out = tmp_path / "ckpt"
    umask = os.umask(0o022)
    try:
        save_checkpoint(build_model(len(tokenizer), seed=0), tokenizer, out, {"run_record.json": {"a": 1}})
    finally:
        os.umask(umask)
    assert oct((out / "model.safetensors").stat().st_mode & 0o777) == "0o644"
    first = (out / "model.safetensors").read_bytes()
    with pytest.raises(OutputExistsError, match="--overwrite"):
        checkpoint_target(out, overwrite=False)
    checkpoint_target(out, overwrite=True)  # only its own files: fine
    save_checkpoint(build_model(len(tokenizer), seed=1), tokenizer, out)
    assert (out / "model.safetensors").read_bytes() != first
    assert not (out / "run_record.json").exists()  # the old save's file, not written this time
    assert "model.safetensors" in (out / MANIFEST).read_text()

    (out / "notes.txt").write_text("my notes")
    (out / "plots").mkdir()
    before = sorted(p.name for p in out.iterdir())
    with pytest.raises(OutputExistsError, match=r"did not write \(notes.txt, plots/\)"):
        checkpoint_target(out, overwrite=True)
    assert sorted(p.name for p in out.iterdir()) == before and (out / "notes.txt").read_text() == "my notes"
