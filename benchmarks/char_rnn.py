"""Train the char-RNN (TextGenerator) on a corpus and report the validation curve.

Target (issue): below 1.50 nats/char on tiny Shakespeare, last 10% held out,
within 15 minutes of training on a 2-core CPU. Prints the validation loss
after every epoch with the elapsed time, the final bits per character, and
samples at three temperatures. Training stops after ``--minutes`` whatever
the epoch count (the cosine schedule is planned for ``--epochs``). After
training it also prints the validation loss by position in the window and
the held-out text's loss with the whole text as context.

The defaults are the configuration measured best here (2-core AVX2 CPU,
oneDNN off as TensorFlow leaves it): Embedding 64 + LSTM 384, batch 32
(``FusedLSTM`` is fastest per character at this batch), sequence 100,
Adam 3e-3 with cosine decay over 12 epochs, dropout 0.15.

    python benchmarks/char_rnn.py --text ../shared/data/tinyshakespeare/input.txt
"""

from __future__ import annotations

import argparse
import math
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402

import tfzoo  # noqa: E402


class Clock(keras.callbacks.Callback):
    def __init__(self, minutes):
        super().__init__()
        self.budget = minutes * 60
        self.rows = []

    def on_train_begin(self, logs=None):
        self.start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        elapsed = time.perf_counter() - self.start
        self.rows.append((epoch + 1, elapsed, logs.get("loss"), logs.get("val_loss")))
        print(
            f"epoch {epoch + 1:>3}  {elapsed:7.1f} s  train {logs.get('loss'):.4f}  "
            f"val {logs.get('val_loss', float('nan')):.4f} nats/char",
            flush=True,
        )
        if elapsed > self.budget:
            self.model.stop_training = True


def report_context(gen, text):
    """Validation loss by position in the window, and with the whole text as context.

    Keras's ``val_loss`` scores separate ``sequence_length`` windows, each from
    a zero state; the first characters of a window are predicted from almost
    no context. ``TextGenerator.score`` carries the state over the held-out
    text instead (each character predicted from all of the text before it).
    """
    held_out = gen.held_out_text(text)
    ids = gen._encode(held_out)
    x, y = gen._windows(ids)
    logits = gen.model_.predict(x, batch_size=256, verbose=0).astype("float64")
    logits -= logits.max(axis=-1, keepdims=True)
    log_p = logits - np.log(np.exp(logits).sum(axis=-1, keepdims=True))
    nats = -np.take_along_axis(log_p, y[..., None], axis=-1)[..., 0].mean(axis=0)
    n = nats.size
    edges = [e for e in (0, 1, 5, 20, 50, n) if e <= n]
    print("\nvalidation loss by position in the window (nats/char):")
    for lo, hi in zip(edges[:-1], edges[1:]):
        print(f"  positions {lo:>3}-{hi - 1:<3} {nats[lo:hi].mean():.4f}")
    print(f"  all windows      {nats.mean():.4f}")
    full = gen.bits_per_character(held_out) * math.log(2)
    print(
        f"held-out text with the state carried over ({len(held_out) - 1:,} chars): "
        f"{full:.4f} nats/char ({full / math.log(2):.3f} bits/char)"
    )


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--text", default=None)
    p.add_argument("--epochs", type=int, default=12)
    p.add_argument("--minutes", type=float, default=15.0)
    p.add_argument("--units", type=int, default=384)
    p.add_argument("--layers", type=int, default=1)
    p.add_argument("--dropout", type=float, default=0.15)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--learning-rate", type=float, default=0.003)
    p.add_argument("--seq", type=int, default=100)
    args = p.parse_args(argv)
    text = tfzoo.datasets.load_text(args.text)
    clock = Clock(args.minutes)
    gen = tfzoo.TextGenerator(
        sequence_length=args.seq,
        units=args.units,
        num_layers=args.layers,
        dropout=args.dropout,
        epochs=args.epochs,
        batch_size=args.batch_size,
        learning_rate=args.learning_rate,
        callbacks=[clock],
        random_state=0,
    )
    print(f"corpus {args.text or 'stdlib'}: {len(text):,} chars; {vars(args)}", flush=True)
    gen.fit(text)
    best = min(r[3] for r in clock.rows)
    print(
        f"\nfinal val {clock.rows[-1][3]:.4f} nats/char "
        f"({clock.rows[-1][3] / math.log(2):.3f} bits/char), best {best:.4f}, "
        f"training {clock.rows[-1][1] / 60:.1f} min"
    )
    report_context(gen, text)
    for temp in (0.5, 0.8, 1.0):
        print(f"\n--- temperature {temp} ---")
        print(gen.generate("ROMEO:\n", 300, temperature=temp, random_state=0))


if __name__ == "__main__":
    main()
