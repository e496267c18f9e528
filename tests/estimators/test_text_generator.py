"""TextGenerator and CharSampler: bad texts and settings are clear errors."""

import numpy as np
import pytest

from tfzoo import TextGenerator
from tfzoo.models import CharSampler, build_char_rnn

TINY = dict(embedding_dim=4, units=4, epochs=1, batch_size=2, sequence_length=5, random_state=0)


@pytest.mark.parametrize(
    "text, kind, message",
    [
        (b"abcde" * 20, TypeError, r"text must be a str .*got bytes: decode it first"),
        (bytearray(b"abcde" * 20), TypeError, r"got bytearray"),
        (None, TypeError, r"text must be a str \(or a list of str\), got NoneType"),
        (12345, TypeError, r"got int"),
        (["abcde" * 10, None], TypeError, r"a list holding NoneType"),
        ("a" * 200, ValueError, r"at least 2 distinct characters.*200 characters, all 'a'"),
    ],
    ids=["bytes", "bytearray", "None", "int", "list-with-None", "one-character"],
)
def test_bad_texts_are_named(text, kind, message):
    with pytest.raises(kind, match=message):
        TextGenerator(**TINY).fit(text)


@pytest.mark.parametrize("name", ["sequence_length", "epochs"])
@pytest.mark.parametrize("value", [0, -1, 2.5, None])
def test_sequence_length_and_epochs_must_be_positive_integers(name, value):
    # scikit-learn's parameter-validation wording (an InvalidParameterError is a ValueError)
    with pytest.raises(
        ValueError, match=rf"The '{name}' parameter of TextGenerator must be an int"
    ):
        TextGenerator(**{**TINY, name: value}).fit("abcde" * 40)


def test_too_short_text_reports_its_own_length_and_what_is_needed():
    # sequence_length 5, a tenth held out: 45 characters to train on, 5 held out.
    text = "abcdefghij" * 5
    gen = TextGenerator(**TINY)
    with pytest.raises(ValueError, match=r"text of 49 characters .* at least 50 characters"):
        gen.fit(text[:49])
    with pytest.raises(ValueError, match=r"text of 9 characters .* at least 10 characters"):
        TextGenerator(**TINY, validation_fraction=0).fit(text[:9])
    # The length the message gives is enough.
    assert gen.fit(text).history_["val_loss"]
    assert TextGenerator(**TINY, validation_fraction=0).fit(text[:10]).history_["loss"]


def test_char_sampler_window_must_be_positive():
    sampler = CharSampler(build_char_rnn(3, embedding_dim=2, units=2))
    with pytest.raises(ValueError, match="window must be a positive integer, got 0"):
        sampler.generate([0, 1], 3, method="window", window=0)
    assert len(sampler.generate(np.array([0, 1]), 3, method="window", window=2)) == 3


def test_generate_and_score_name_the_characters_never_seen_in_training():
    gen = TextGenerator(**TINY).fit("abcde" * 40)
    with pytest.raises(ValueError, match=r"not in the vocabulary: \['X', 'Z'\].*vocabulary_"):
        gen.generate("aXbZ", 3)
    with pytest.raises(ValueError, match=r"not in the vocabulary: \['!'\]"):
        gen.score("abc!abc")
    greedy = gen.generate("abc", 10, temperature=0)
    assert greedy == gen.generate("abc", 10, temperature=0, random_state=5)
