"""Text characteristics by hand."""
import math

from mrd_bench.reproduce.features import entities, entity_frequency, lexical_diversity, syntactic_depth


def test_entities_skip_sentence_starts_and_function_words():
    text = "The author Basil Mahfouz Al-Kuwaiti was born in Kuwait City. His father lived in New York."
    assert entities(text) == ["Basil Mahfouz Al-Kuwaiti", "Kuwait City", "New York"]


def test_entity_frequency_counts_training_mentions():
    training = ["Anna lives in Rome.", "Yes, Anna wrote it.", "It rains in Rome and Oslo.", "Hello there Oslo."]
    # "Anna" is a sentence start in the first text, so mentioned once (the second text); Rome twice; Oslo twice
    assert entity_frequency(["A book by Anna about Rome."], training) == [(1 + 2) / 2]
    assert entity_frequency(["nothing here"], training) == [0.0]


def test_lexical_diversity_and_depth():
    assert lexical_diversity("a b c d") == 1.0
    assert lexical_diversity("a a a a") == 0.25
    words = " ".join(["x", "y"] * 10)  # windows of 10 always hold 2 types
    assert math.isclose(lexical_diversity(words), 0.2)
    assert syntactic_depth("She left because it rained, which was sad. He stayed.") == (3 + 1) / 2
