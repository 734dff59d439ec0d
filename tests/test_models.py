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
    assert chat.decode([t for t, l in zip(enc.input_ids, enc.labels) if l != IGNORE]) == "Yes.</s>"


def test_score_prompt_scores_all_but_the_first_token(tokenizer):
    enc = encode_qa(tokenizer, "Who?", "Me.", score_prompt=True)
    assert enc.labels[0] == IGNORE and all(l != IGNORE for l in enc.labels[1:])


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
