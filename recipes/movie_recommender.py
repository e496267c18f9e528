"""Movies watched -> movies to suggest: an embedding recommender (matrix factorisation).

The data are GENERATED (tfzoo.datasets.make_ratings): users watch movies
drawn by popularity (Zipf) and by taste (latent factors around six genres)
and rate them 1-5 stars; see datasets/ratings.md. 20% of every user's
movies are held out. One builder, tfzoo.models.build_embedding_recommender
(user and item embeddings, dot product plus biases), trained twice with
tfzoo.KerasRegressor:

- a rating model, mean squared error on the stars: RMSE on the held-out
  ratings, against the global mean and each movie's mean rating;
- a watch model on implicit feedback (watched = 1, four random unwatched
  movies per watched one = 0, binary cross-entropy on the logit): the top 10
  unwatched movies per user, scored by hit rate, recall and NDCG@10 against
  the most popular movies, the rating model's ranking and the true watch
  probabilities of the generating process (the ceiling: the best ranking in
  expectation).

--tune searches the rating model's vector length and L2 penalty with
keras-tuner's Bayesian optimisation (tfzoo.tuning.TunedRegressor, 3-fold CV).

    python recipes/movie_recommender.py            # about 30 s on 2 CPU cores
    python recipes/movie_recommender.py --tune     # plus the search, about 2 minutes
    python recipes/movie_recommender.py --smoke    # seconds
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402
from _common import (  # noqa: E402
    Timer,
    announce_report,
    output_dir,
    parser,
    print_table,
    report_dir,
    use_agg_backend,
)

NAME = "movie_recommender"
K = 10
AFFINITY = 3.0  # how strongly taste drives what users watch (make_ratings)


def ranking_metrics(scores, watched, held_out, k=K):
    """Hit rate, recall and NDCG at ``k`` of each user's top ``k`` unwatched items.

    ``scores``, ``watched`` (training interactions, excluded from the ranking)
    and ``held_out`` are ``(n_users, n_items)``; users without held-out items
    are skipped. Returns the three means over users.
    """
    top = np.argsort(-np.where(watched, -np.inf, scores), axis=1, kind="stable")[:, :k]
    hits = np.take_along_axis(held_out, top, axis=1).astype(float)
    relevant = held_out.sum(axis=1)
    users = relevant > 0
    discount = 1.0 / np.log2(np.arange(2, k + 2))
    ideal = np.cumsum(discount)[np.minimum(relevant, k) - 1]
    return (
        float(hits.any(axis=1)[users].mean()),
        float((hits.sum(axis=1)[users] / relevant[users]).mean()),
        float(((hits * discount).sum(axis=1)[users] / ideal[users]).mean()),
    )


def implicit_pairs(train, watched, ratio, rng):
    """Watched (user, item) pairs with target 1 and ``ratio`` random unwatched ones with 0."""
    positives = train[["user", "item"]].to_numpy()
    users = np.repeat(positives[:, 0], ratio)
    items = rng.integers(0, watched.shape[1], len(users))
    keep = ~watched[users, items]
    negatives = np.column_stack([users[keep], items[keep]])
    X = np.concatenate([positives, negatives]).astype(np.float32)
    y = np.concatenate([np.ones(len(positives)), np.zeros(len(negatives))])
    return X, y


def main(argv=None):
    p = parser(__doc__.splitlines()[0], epochs=20)
    p.add_argument("--users", type=int, default=1000, help="generated users")
    p.add_argument("--movies", type=int, default=500, help="generated movies")
    p.add_argument("--embedding-dim", type=int, default=32, help="length of the vectors")
    p.add_argument(
        "--tune",
        action="store_true",
        help="tune the rating model's vector length and L2 penalty (keras-tuner, 3-fold CV)",
    )
    args = p.parse_args(argv)
    plt = use_agg_backend()
    import keras
    from sklearn.decomposition import PCA

    import tfzoo
    from tfzoo.datasets.ratings import GENRES
    from tfzoo.models import build_embedding_recommender
    from tfzoo.tuning import TunedRegressor

    out = output_dir(args, NAME)
    n_users, n_items = (200, 100) if args.smoke else (args.users, args.movies)
    ratings, truth = tfzoo.datasets.make_ratings(
        n_users,
        n_items,
        ratings_per_user=20 if args.smoke else 40,
        affinity=AFFINITY,
        seed=args.seed,
        return_truth=True,
    )
    test = ratings.groupby("user").sample(frac=0.2, random_state=args.seed)
    train = ratings.drop(test.index)
    watched = np.zeros((n_users, n_items), bool)
    watched[train["user"], train["item"]] = True
    held_out = np.zeros_like(watched)
    held_out[test["user"], test["item"]] = True
    X_train = train[["user", "item"]].to_numpy(np.float32)
    X_test = test[["user", "item"]].to_numpy(np.float32)
    y_train = train["rating"].to_numpy(float)
    y_test = test["rating"].to_numpy(float)

    common = dict(
        model=build_embedding_recommender,
        epochs=8 if args.smoke else args.epochs,
        learning_rate=0.005,
        validation_fraction=0.1,
        early_stopping=True,
        n_iter_no_change=3,
        random_state=args.seed,
        strategy=args.strategy,
        tensorboard_dir=args.logdir,
    )
    sizes = {"n_users": n_users, "n_items": n_items, "embedding_dim": args.embedding_dim}
    # The rating model starts at 0 stars on purpose: started at the mean
    # (global_bias=mean) it overfits within two epochs, RMSE 0.63 instead of 0.60.
    rating_model = tfzoo.KerasRegressor(
        model_kwargs={**sizes, "l2": 1e-4}, batch_size=256, **common
    )
    if args.tune:
        rating_model = TunedRegressor(
            rating_model,
            {
                "model__embedding_dim": [args.embedding_dim, 8, 16, 64],
                "model__l2": {"min": 1e-6, "max": 1e-3, "sampling": "log", "default": 1e-4},
            },
            tuner="bayesian",
            max_trials=2 if args.smoke else 8,
            cv=3,
            scoring="neg_root_mean_squared_error",
            random_state=args.seed,
        )
    rng = np.random.default_rng(args.seed)
    X_implicit, y_implicit = implicit_pairs(train, watched, ratio=4, rng=rng)
    base_rate = y_implicit.mean()
    watch_model = tfzoo.KerasRegressor(
        model_kwargs={
            **sizes,
            "l2": 3e-5,
            "global_bias": float(np.log(base_rate / (1 - base_rate))),
        },
        batch_size=512,
        loss=keras.losses.BinaryCrossentropy(from_logits=True),
        **common,
    )
    with Timer() as rating_time:
        rating_model.fit(X_train, y_train)
    with Timer() as watch_time:
        watch_model.fit(X_implicit, y_implicit)
    tuned = rating_model if args.tune else None
    if args.tune:
        rating_model = rating_model.best_estimator_

    def rmse(pred):
        return float(np.sqrt(np.mean((pred - y_test) ** 2)))

    item_mean = train.groupby("item")["rating"].mean().reindex(range(n_items))
    item_mean = item_mean.fillna(y_train.mean()).to_numpy()
    grid = np.stack(np.meshgrid(np.arange(n_users), np.arange(n_items), indexing="ij"), -1)
    grid = grid.reshape(-1, 2).astype(np.float32)
    views = watched.sum(axis=0).astype(float)
    rankers = {
        "most popular": np.broadcast_to(views, watched.shape),
        "rating model": rating_model.predict(grid).reshape(n_users, n_items),
        "watch model": watch_model.predict(grid).reshape(n_users, n_items),
        "generating process": np.log(truth["item_popularity"])
        + AFFINITY * truth["user_factors"] @ truth["item_factors"].T,
    }
    metrics = {name: ranking_metrics(s, watched, held_out) for name, s in rankers.items()}

    rows = [
        ("data", "generated ratings (make_ratings)"),
        ("users x movies", f"{n_users} x {n_items}"),
        ("ratings (train / held out)", f"{len(train)} / {len(test)}"),
        ("global mean: RMSE", rmse(np.full(len(y_test), y_train.mean()))),
        ("movie mean: RMSE", rmse(item_mean[test["item"]])),
        ("rating model: RMSE", rmse(rating_model.predict(X_test))),
    ]
    for name, (hit_rate, recall, ndcg) in metrics.items():
        rows += [
            (f"{name}: hit rate@{K}", hit_rate),
            (f"{name}: recall@{K}", recall),
            (f"{name}: NDCG@{K}", ndcg),
        ]
    rows.append(
        ("watch model / most popular NDCG", metrics["watch model"][2] / metrics["most popular"][2])
    )
    if tuned is not None:
        rows += [
            ("tuned: embedding_dim", tuned.best_params_["model__embedding_dim"]),
            ("tuned: l2", f"{tuned.best_params_['model__l2']:.2g}"),
            ("tuned: CV RMSE of the best trial", -tuned.best_score_),
        ]
    rows += [
        ("rating model fit time", f"{rating_time.seconds:.1f} s"),
        ("watch model fit time", f"{watch_time.seconds:.1f} s"),
    ]
    print_table(f"movies watched -> movies to suggest (top {K} of the unwatched)", rows)

    fig, axes = plt.subplots(2, 2, figsize=(12, 10))
    for ax, model, title, ylabel in (
        (axes[0, 0], rating_model, "Rating model", "MSE (stars²)"),
        (axes[0, 1], watch_model, "Watch model", "binary cross-entropy"),
    ):
        ax.plot(model.history_["loss"], label="training")
        ax.plot(model.history_["val_loss"], label="validation (10%)")
        ax.set(title=f"{title}: learning curve", xlabel="epoch", ylabel=ylabel, yscale="log")
        ax.legend()
    layer = watch_model.model_.get_layer("matrix_factorization")
    projected = PCA(2, random_state=args.seed).fit_transform(
        keras.ops.convert_to_numpy(layer.item_embeddings)
    )
    ax = axes[1, 0]
    size = 5 + 400 * truth["item_popularity"] / truth["item_popularity"].max()
    for g, genre in enumerate(GENRES):
        mine = truth["item_genre"] == g
        ax.scatter(*projected[mine].T, s=size[mine], alpha=0.6, label=genre)
    ax.set(
        title="Movie vectors of the watch model (PCA; size = popularity)",
        xlabel="PC 1",
        ylabel="PC 2",
    )
    legend = ax.legend(title="true genre")
    for handle in legend.legend_handles:
        handle.set_sizes([30])
    ax = axes[1, 1]
    width = 0.8 / len(metrics)
    labels = [f"hit rate@{K}", f"recall@{K}", f"NDCG@{K}"]
    for j, (name, values) in enumerate(metrics.items()):
        ax.bar(np.arange(3) + (j - (len(metrics) - 1) / 2) * width, values, width, label=name)
    ax.set_xticks(np.arange(3), labels)
    ax.set(title="Held-out movies in the top 10 suggestions", ylim=(0, 1))
    ax.legend()
    fig.tight_layout()
    fig.savefig(out / f"{NAME}.png", dpi=100)
    print(f"\nplots: {out / f'{NAME}.png'}")
    result = dict(rows)
    if args.report:
        index = tfzoo.reports.regression_report(
            report_dir(out),
            y_test,
            rating_model.predict(X_test),
            baseline=item_mean[test["item"]],
            baseline_name="movie mean",
            model=rating_model,
            summary=rows,
            title="Movies watched -> movies to suggest: the rating model's stars",
        )
        result["report"] = announce_report(index)
    return result


if __name__ == "__main__":
    main()
