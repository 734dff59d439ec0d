"""The corrupted input: another entity's name, the same token length, the answer untouched."""
from __future__ import annotations

from mrd_bench.models import encode_qa
from mrd_bench.scorers.corrupt import corrupt, entities, entity_pool


def test_entities_are_capitalised_spans_not_the_opening_question_word():
    assert entities("What does Hsiao Yun-Hwa identify as?") == ["Hsiao Yun-Hwa"]
    assert entities("Where was Liesel born in Tartu?") == ["Liesel", "Tartu"]
    assert entities("what is it?") == []


def test_corrupted_question_has_the_clean_length_and_answer(tokenizer):
    prompts = ["Who is Liesel Varnakov?", "Who is Ab Cd?", "Who is Varnakov Liesel?", "Who is Q?"]
    pool = entity_pool(prompts)
    assert pool == ["Ab Cd", "Liesel Varnakov", "Varnakov Liesel"]  # a lone letter is no name
    clean = encode_qa(tokenizer, prompts[0], "She wrote it.")
    ids, info = corrupt(tokenizer, prompts[0], "She wrote it.", clean, pool, seed=0)
    assert info["baseline"] == "corrupt" and info["entity"] == "Liesel Varnakov"
    assert len(ids) == len(clean.input_ids)
    answer = [i for i, label in enumerate(clean.labels) if label != -100]
    assert [ids[i] for i in answer] == [clean.input_ids[i] for i in answer]  # the answer is untouched
    assert ids != clean.input_ids
    assert info["replacement"] == "Varnakov Liesel" and info["exact"]  # "Ab Cd" is shorter in tokens
    if info["exact"]:
        other = encode_qa(tokenizer, prompts[0].replace("Liesel Varnakov", info["replacement"]), "She wrote it.")
        assert ids == other.input_ids
    # seeded: the same choice every time
    assert corrupt(tokenizer, prompts[0], "She wrote it.", clean, pool, seed=0) == (ids, info)


def test_no_entity_falls_back_to_zero_and_says_so(tokenizer):
    clean = encode_qa(tokenizer, "what is it?", "A fox.")
    ids, info = corrupt(tokenizer, "what is it?", "A fox.", clean, ["Ab Cd"], seed=0)
    assert ids is None and info["baseline"] == "zero" and "no entity" in info["reason"]


def test_a_longer_name_is_cut_to_length_when_none_fits_exactly(tokenizer):
    prompt = "Who is Ab Cd?"
    clean = encode_qa(tokenizer, prompt, "She wrote it.")
    ids, info = corrupt(tokenizer, prompt, "She wrote it.", clean, ["Liesel Varnakov"], seed=0)
    assert info == {"baseline": "corrupt", "entity": "Ab Cd", "replacement": "Liesel Varnakov", "exact": False}
    assert len(ids) == len(clean.input_ids) and ids != clean.input_ids
    assert ids[-8:] == clean.input_ids[-8:]
