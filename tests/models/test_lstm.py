import numpy as np
import pytest

from tfzoo.models import CharSampler, build_char_rnn, build_lstm_classifier, build_lstm_forecaster


def test_forecaster_shapes():
    model = build_lstm_forecaster(window=12, n_features=3, horizon=4, n_targets=2, units=8)
    assert model.output_shape == (None, 8)
    assert model.predict(np.zeros((5, 12, 3), "float32"), verbose=0).shape == (5, 8)


def test_classifier_shapes():
    model = build_lstm_classifier(sequence_length=None, n_features=2, num_classes=4, units=8)
    out = model.predict(np.zeros((3, 9, 2), "float32"), verbose=0)
    assert out.shape == (3, 4)
    np.testing.assert_allclose(out.sum(axis=1), 1.0, rtol=1e-5)


def test_char_rnn_and_stateful_sampling_equals_window_sampling(set_seed):
    set_seed(0)
    model = build_char_rnn(vocab_size=7, embedding_dim=4, units=8, num_layers=2)
    assert model.output_shape == (None, None, 7)
    sampler = CharSampler(model)
    prompt = [1, 2, 3, 4]
    # Same seed, same model: carrying the state gives exactly the window answer
    # as long as the window covers the whole history.
    a = sampler.generate(prompt, 12, temperature=0.7, seed=3, method="stateful")
    b = sampler.generate(prompt, 12, temperature=0.7, seed=3, method="window", window=100)
    assert a == b and len(a) == 12 and all(0 <= t < 7 for t in a)
    with pytest.raises(ValueError, match="temperature must be >= 0"):
        sampler.generate(prompt, 3, temperature=-0.5)
    # temperature 0 is greedy decoding: every step the argmax, whatever the seed
    greedy = sampler.generate(prompt, 6, temperature=0, seed=1)
    assert greedy == sampler.generate(prompt, 6, temperature=0, seed=2)
    history = list(prompt)
    for token in greedy:
        probs = model.predict(np.array([history]), verbose=0)[0, -1]
        assert token == int(np.argmax(probs))
        history.append(token)
    with pytest.raises(ValueError, match="at least one character"):
        sampler.generate([], 3)


def test_log_likelihood_carries_the_state_over_chunks(set_seed):
    set_seed(1)
    model = build_char_rnn(vocab_size=6, embedding_dim=4, units=8, num_layers=2)
    sampler = CharSampler(model)
    ids = np.random.default_rng(0).integers(0, 6, 50).astype("int32")
    whole = sampler.log_likelihood(ids)
    # The model run on the whole text at once is the reference.
    logits = model.predict(ids[None, :-1], verbose=0)[0].astype("float64")
    log_p = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    np.testing.assert_allclose(whole, log_p[np.arange(49), ids[1:]], atol=1e-5)
    # Chunks of 7 carry the LSTM states across: same numbers.
    np.testing.assert_allclose(sampler.log_likelihood(ids, chunk=7), whole, atol=1e-5)
    # Windows started from zero state would differ after the first chunk.
    cut = np.concatenate([sampler.log_likelihood(ids[:8]), sampler.log_likelihood(ids[7:])])
    assert np.abs(cut - whole).max() > 1e-4
    with pytest.raises(ValueError, match="at least 2"):
        sampler.log_likelihood([3])
