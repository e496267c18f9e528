"""The estimators' training input and prediction function on each Keras backend.

On TensorFlow the estimators keep what was measured there: one ``tf.data``
pipeline per fit and a concrete ``tf.function`` for prediction (see
:mod:`tfzoo.estimators._base`). Nothing here imports TensorFlow on the
other backends, where:

- training batches come from :class:`ArrayBatches`, a ``keras.utils.PyDataset``
  that reshuffles the rows each epoch from the fit's seed (``(seed, epoch)``
  draws the order, so a fit is reproducible and leaves NumPy's global state
  alone), densifies ``scipy.sparse`` rows a batch at a time, and can carry the
  ``w / b`` weights of :class:`~tfzoo.estimators._base.GlobalBatchLoss`,
  and pads the batches that do not split evenly over a ``keras.distribution``'s
  devices (JAX);
- prediction on JAX is one ``jax.jit``-compiled function of the weights'
  values and the input (compiled once per input shape; a one-row call costs
  about 20 microseconds, its result polled rather than waited for), run
  with 64-bit types enabled for the float64 prediction copy; on torch it is
  the model's eager call under ``torch.no_grad()``, the cheapest honest path there (torch has no
  compile step that pays for itself on a one-row call);
- ``partial_fit``'s direct pass goes through ``train_on_batch``, which on
  JAX keeps the compiled step and writes the new weights back each call.
"""

from __future__ import annotations

import contextlib
import math
import time

import keras
import numpy as np
from scipy import sparse

from tfzoo._backend import backend


def dtype_scope(dtype):
    """The context in which ``dtype`` variables and computations stay ``dtype``.

    For float64 off TensorFlow: JAX canonicalises 64-bit types to 32-bit
    unless ``jax_enable_x64`` is on (:func:`jax.enable_x64` turns it on for
    the block only, thread-locally), and Keras's type promotion maps float64
    to float32 on JAX and torch (:func:`tfzoo.distribute.keras_fixes.float64_promotion`
    keeps it float64 for the block). The float64 prediction copy needs both.
    """
    if backend() == "tensorflow" or str(dtype) != "float64":
        return contextlib.nullcontext()
    from tfzoo.distribute import keras_fixes

    stack = contextlib.ExitStack()
    if backend() == "jax":
        import jax

        stack.enter_context(jax.enable_x64(True))
    stack.enter_context(keras_fixes.float64_promotion())
    return stack


class ArrayBatches(keras.utils.PyDataset):
    """Batches of ``(x, y[, w])`` from arrays, reshuffled every epoch from ``seed``.

    Args:
        x: array ``(n, ...)`` or a ``scipy.sparse`` matrix of rows (densified a
            batch at a time and reshaped to ``sample_shape``).
        y, sample_weight: arrays of ``n`` rows (``sample_weight`` may be None).
        batch_size: rows per batch (the last batch may be smaller).
        shuffle: a new order every epoch, drawn from ``(seed, epoch)``.
        seed: int or None (None: a fresh order from the OS's entropy).
        global_mean: weights become ``w / b`` for a global batch of ``b`` rows.
        pad_to: rows per batch must be a multiple of this (the devices of a
            ``keras.distribution.DataParallel``, which splits every batch evenly
            over them). A batch of ``b`` rows that is not is padded to the next
            multiple ``B`` with copies of its first rows, weighted 0; with
            ``rescale`` the real rows' weights are multiplied by ``B / b``, so a
            loss that Keras averages over the batch's rows (its default
            ``"sum_over_batch_size"``) is that of the ``b`` rows, and the
            gradients those of the unpadded batch on one device. Every batch then
            carries weights (1 where none were given), so that all have the same
            structure. Layers that mix rows see the padding: ``Dropout`` draws
            its mask for ``B`` rows (the same distribution, other draws than on
            one device) and ``BatchNormalization``'s batch statistics count the
            copied rows twice. Keras weights each batch's loss in the epoch's
            reported mean by its padded size.
        rescale: see ``pad_to`` (False for a loss summed over rows).
        process: ``(p, P)`` under a ``keras.distribution`` over ``P`` processes
            (``strategy="multiworker"`` on JAX): each (padded) global batch is
            cut into ``P`` equal contiguous shares and this process gives share
            ``p`` (:func:`tfzoo.distribute.jax_multiworker.share_of_batch`), so
            the processes together train on the batches one process would.
            Every process must draw the same order: give them the same ``seed``.
    """

    def __init__(
        self,
        x,
        y,
        sample_weight,
        batch_size,
        shuffle=False,
        seed=None,
        global_mean=False,
        sample_shape=None,
        pad_to=1,
        rescale=True,
        process=None,
    ):
        super().__init__(workers=1, use_multiprocessing=False)
        self.x, self.y = x, y
        self.sample_weight = None if sample_weight is None else np.asarray(sample_weight, "float32")
        self.batch_size = int(batch_size)
        self.shuffle = shuffle
        self.seed = seed
        self.global_mean = global_mean
        self.sample_shape = sample_shape
        self.n = x.shape[0]
        self.pad_to = int(pad_to)
        self.rescale = rescale
        self.process = process
        # whether some batch needs padding: then every batch carries weights
        last = self.n % self.batch_size
        self.pads = self.pad_to > 1 and bool(
            (self.n >= self.batch_size and self.batch_size % self.pad_to) or last % self.pad_to
        )
        self.epoch = 0
        self.order = self._draw_order()

    def _draw_order(self):
        if not self.shuffle:
            return None
        entropy = None if self.seed is None else [int(self.seed), self.epoch]
        return np.random.default_rng(entropy).permutation(self.n)

    @property
    def num_batches(self):
        return math.ceil(self.n / self.batch_size)

    def __len__(self):
        return self.num_batches

    def __getitem__(self, index):
        start = index * self.batch_size
        if self.order is None:
            rows = slice(start, start + self.batch_size)
        else:
            rows = self.order[start : start + self.batch_size]
        xb = self.x[rows]
        if sparse.issparse(xb):
            xb = np.asarray(xb.toarray(), dtype=np.float32)
            if self.sample_shape is not None:
                xb = xb.reshape((xb.shape[0], *self.sample_shape))
        yb = self.y[rows]
        wb = None if self.sample_weight is None else self.sample_weight[rows]
        if self.global_mean:
            b = np.float32(xb.shape[0])
            wb = (np.ones(xb.shape[0], np.float32) if wb is None else wb) / b
        if self.pads:
            xb, yb, wb = pad_batch(xb, yb, wb, self.pad_to, self.rescale)
        if self.process is not None:
            from tfzoo.distribute.jax_multiworker import share_of_batch

            share = share_of_batch(xb.shape[0], self.process)
            xb, yb = xb[share], yb[share]
            wb = None if wb is None else wb[share]
        return (xb, yb) if wb is None else (xb, yb, wb)

    def on_epoch_end(self):
        self.epoch += 1
        self.order = self._draw_order()


def pad_batch(x, y, w, multiple, rescale=True):
    """``(x, y, w)`` padded to a multiple of ``multiple`` rows (see :class:`ArrayBatches`).

    The padding rows copy the batch's first rows (cyclically) and weigh 0;
    with ``rescale`` the real rows' weights are multiplied by ``B / b``. A batch
    that splits evenly keeps its rows, with weights of 1 when ``w`` is None.
    """
    b = x.shape[0]
    w = np.ones(b, np.float32) if w is None else np.asarray(w, np.float32)
    padded = -(-b // multiple) * multiple
    if padded == b:
        return x, y, w
    extra = np.arange(padded - b) % b
    x = np.concatenate([x, x[extra]])
    y = np.concatenate([y, y[extra]])
    if rescale:
        w = w * np.float32(padded / b)
    w = np.concatenate([w, np.zeros(padded - b, np.float32)])
    return x, y, w


def sums_over_rows(loss):
    """Whether a compiled ``loss`` sums its rows (``reduction="sum"``) instead of averaging."""
    if isinstance(loss, dict):
        loss = list(loss.values())
    if isinstance(loss, (list, tuple)):
        return any(sums_over_rows(each) for each in loss)
    return getattr(loss, "reduction", None) == "sum"


#: A prediction whose input holds at most this many values waits for its result by
#: polling it (for at most ``SPIN_WAIT_S``) instead of sleeping until JAX's CPU worker
#: thread wakes it. JAX runs every CPU computation of more than about 1,000 flops
#: (XLA's cost estimate; a 1-row perceptron is 1,376) on a worker thread; blocking
#: on its result then costs two thread wake-ups. On this project's 2-core VM a 1-row
#: call in a tight loop took 35 us (median; 83 us at the 90th percentile) blocking and
#: 16 us (31 us) polling. Large inputs block at once: their polling
#: thread would take a core from XLA's.
SPIN_MAX_VALUES = 8192
SPIN_WAIT_S = 200e-6


class JaxPredict:
    """``fn(x) -> outputs`` on JAX: one ``jax.jit`` function of the weights and ``x``.

    The weights' values are read once here and again by :meth:`refresh` (the
    estimator calls it after every fit), not on each call: a 1-row prediction
    costs microseconds, and listing the variables' values was about 15% of it.
    """

    def __init__(self, target, variables, dtype):
        import jax

        from tfzoo.distribute import keras_fixes

        self._x64 = str(dtype) == "float64"
        self._variables = list(variables)

        def pure(values, x):
            # Keras's float64 promotion matters only while JAX traces (this body runs
            # then, not on the calls that reuse the compiled function); 64-bit types
            # must be on for every call, or float64 inputs would trace a float32 twin.
            promotion = keras_fixes.float64_promotion() if self._x64 else contextlib.nullcontext()
            state = list(zip(self._variables, values))
            with promotion, keras.StatelessScope(state_mapping=state):
                return target(x, training=False)

        self._compiled = jax.jit(pure)
        self._scope = (lambda: jax.enable_x64(True)) if self._x64 else contextlib.nullcontext
        self._leaves = jax.tree_util.tree_leaves
        self.refresh()

    def refresh(self):
        """Read the variables' values again (after they were assigned)."""
        self._values = [v.value for v in self._variables]
        device = next(iter(self._values[0].devices())) if self._values else None
        self._poll = device is not None and device.platform == "cpu"

    def __call__(self, x):
        with self._scope():
            out = self._compiled(self._values, x)
        if self._poll and x.size <= SPIN_MAX_VALUES:
            leaves = self._leaves(out)
            deadline = time.perf_counter() + SPIN_WAIT_S
            while not all(leaf.is_ready() for leaf in leaves):
                if time.perf_counter() > deadline:
                    break
        return np.asarray(out)

    def __deepcopy__(self, memo):
        # shared, as the closure it replaced was: it holds compiled code and the
        # prediction copy's variables, never anything a copy could change
        return self

    def __copy__(self):
        return self


def make_predict_function(target, variables, dtype):
    """``fn(x) -> outputs`` for NumPy ``x`` of any number of rows, on JAX or torch.

    ``target(x, training=False)`` is the model (or a function of its layers);
    ``variables`` are all the variables it reads. A function with a
    ``refresh()`` method must have it called after the variables are assigned.
    """
    name = backend()
    if name == "jax":
        return JaxPredict(target, variables, dtype)
    if name == "torch":
        import torch

        def predict(x):
            with torch.no_grad(), dtype_scope(dtype):
                out = target(keras.ops.convert_to_tensor(x, dtype=dtype), training=False)
            return keras.ops.convert_to_numpy(out)

        return predict
    raise NotImplementedError(f"no prediction function for Keras's {name!r} backend")


def train_pass_directly(model, batches):
    """Train ``model`` on each ``(x, y[, w])`` of ``batches``; the pass's logs.

    ``train_on_batch`` reports one batch (on JAX it resets the metrics every
    call), so the logs are averaged here weighted by each batch's rows, as
    ``fit`` reports an epoch's.
    """
    totals, rows = {}, 0
    for batch in batches:
        x, y = batch[0], batch[1]
        w = batch[2] if len(batch) > 2 else None
        model.reset_metrics()  # each call reports its own batch on every backend
        logs = model.train_on_batch(x, y, sample_weight=w, return_dict=True)
        n = len(x)
        rows += n
        for key, value in logs.items():
            totals[key] = totals.get(key, 0.0) + float(value) * n
    return {key: total / rows for key, total in totals.items()}


def picklable_model(model):
    """``model``, or on JAX a stand-in that unpickles float64 weights as float64.

    Keras pickles a model as its ``.keras`` file; loading that builds the
    variables again, which JAX would truncate to float32 outside
    :func:`dtype_scope` (the closed-form linear regression is float64).
    """
    if backend() != "jax" or not any(str(w.dtype) == "float64" for w in model.weights):
        return model
    return _Float64Model(model)


class _Float64Model:
    def __init__(self, model):
        self.model = model

    def __reduce__(self):
        import pickle

        return _unpickle_float64_model, (pickle.dumps(self.model),)


def _unpickle_float64_model(data):
    import pickle

    with dtype_scope("float64"):
        return pickle.loads(data)
