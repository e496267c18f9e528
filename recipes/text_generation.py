"""Text -> generated text: a character-level LSTM on any text file.

Default corpus: the source of a few modules of Python's own standard library
(every Python installation has it). ``--text FILE`` takes any UTF-8 text,
e.g. ``../shared/data/tinyshakespeare/input.txt``. The last 10% is held out;
the table gives the validation loss (nats/char, over separate windows from a
zero state, as Keras reports it), the same in bits per character, the held-out
text's bits per character with all of it as context (``TextGenerator.score``),
and samples at three temperatures.

    python recipes/text_generation.py
    python recipes/text_generation.py --text ../shared/data/tinyshakespeare/input.txt --epochs 8
"""

from __future__ import annotations

import math
import sys
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (  # noqa: E402
    Timer,
    announce_report,
    output_dir,
    parser,
    print_table,
    report_dir,
    use_agg_backend,
)

# --smoke: enough epochs that the model beats its baseline (tests/test_recipes.py).
SMOKE_EPOCHS = 4


def unigram_bits(train, held_out, vocabulary):
    """Bits/char of ``held_out`` under the training text's character frequencies (add-one).

    The baseline that knows no context: a char-RNN that learned anything beats it.
    """
    counts = Counter(train)
    total = len(train) + len(vocabulary)
    return -sum(math.log2((counts[ch] + 1) / total) for ch in held_out) / max(len(held_out), 1)


def main(argv=None):
    p = parser(__doc__.splitlines()[0], epochs=15)
    p.add_argument("--text", default=None, help="UTF-8 text file (default: stdlib source)")
    p.add_argument("--units", type=int, default=256)
    p.add_argument("--layers", type=int, default=1)
    p.add_argument("--dropout", type=float, default=0.0)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--prompt", default=None, help="prompt for the samples")
    args = p.parse_args(argv)
    plt = use_agg_backend()
    import tfzoo

    out = output_dir(args, "text_generation")
    text = tfzoo.datasets.load_text(args.text, max_chars=20000 if args.smoke else None)
    gen = tfzoo.TextGenerator(
        units=64 if args.smoke else args.units,
        num_layers=args.layers,
        dropout=args.dropout,
        epochs=SMOKE_EPOCHS if args.smoke else args.epochs,
        # --smoke: small batches and a larger step, so that a few epochs of 20,000 characters
        # get below the unigram baseline
        batch_size=16 if args.smoke else args.batch_size,
        **({"learning_rate": 0.01} if args.smoke else {}),
        random_state=args.seed,
        strategy=args.strategy,
        tensorboard_dir=args.logdir,
    )
    with Timer() as t:
        gen.fit(text)
    val = gen.history_.get("val_loss", [float("nan")])[-1]
    # The same held-out text scored with all of it as context (states carried over).
    held_out = gen.held_out_text(text)
    whole = gen.bits_per_character(held_out) if len(held_out) > 1 else float("nan")
    unigram = unigram_bits(text[: len(text) - len(held_out) + 1], held_out[1:], gen.vocabulary_)
    prompt = args.prompt or text[: gen.sequence_length // 2]
    samples = {
        temp: gen.generate(prompt, 300, temperature=temp, random_state=args.seed)
        for temp in (0.5, 0.8, 1.0)
    }
    rows = [
        ("corpus", args.text or "Python standard-library source"),
        ("characters / vocabulary", f"{len(text)} / {len(gen.vocabulary_)}"),
        ("validation loss (nats/char)", val),
        ("validation bits/char", val / 0.6931471805599453),
        ("held-out bits/char, whole text as context", whole),
        ("unigram baseline bits/char (training-text frequencies)", unigram),
        ("training time", f"{t.seconds:.1f} s"),
    ]
    print_table("text -> generated text (char-RNN)", rows)
    for temp, sample in samples.items():
        print(f"\n--- sample, temperature {temp} ---\n{sample}")
    (out / "samples.txt").write_text(
        "\n\n".join(f"--- temperature {k} ---\n{v}" for k, v in samples.items()), encoding="utf-8"
    )
    fig, ax = plt.subplots(figsize=(7, 4.5))
    ax.plot(gen.history_["loss"], label="training")
    if "val_loss" in gen.history_:
        ax.plot(gen.history_["val_loss"], label="validation")
    ax.set(title="char-RNN loss", xlabel="epoch", ylabel="nats / character")
    ax.legend()
    fig.tight_layout()
    fig.savefig(out / "text_generation.png", dpi=100)
    print(f"\nplots: {out / 'text_generation.png'}; samples: {out / 'samples.txt'}")
    result = {**dict(rows), "samples": samples}
    if args.report:
        index = tfzoo.reports.text_report(
            report_dir(out),
            samples,
            prompt=prompt,
            model=gen,
            summary=rows,
            title="Text -> generated text: the char-RNN",
        )
        result["report"] = announce_report(index)
    return result


if __name__ == "__main__":
    main()
