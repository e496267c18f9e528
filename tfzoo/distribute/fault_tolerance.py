"""Fault tolerance for multi-worker training.

Keras 3's ``BackupAndRestore`` has no notion of chief and workers: every
worker writes the same file names into the same ``backup_dir``, so on a
shared file system they clobber each other; and each task restores whatever
it last wrote, so tasks killed at different moments resume at different
epochs and then wait at an all-reduce for peers that are elsewhere.
:class:`BackupAndRestore` gives each task its own sub-folder (``worker-0``,
``worker-1``, ``chief-0``…) and makes the tasks agree:

* after each epoch a task writes ``epoch-<N>.weights.h5`` (model and
  optimizer state) and then the record ``epoch-<N>.json`` (its size and
  SHA-256), each to a temporary file renamed into place (``os.replace``): a
  backup counts only once its record exists and matches the file, so a crash
  at any moment leaves the last complete backup intact;
* it keeps its newest ``keep`` backups (tasks of a synchronous cluster are at
  most one epoch apart when one dies);
* on restart every task reads every task's records (the folder must be shared
  by all tasks) and restores the newest epoch that **all** tasks have a
  complete backup of; all tasks read the same files, so they agree. A
  truncated or corrupt backup is skipped with a ``RuntimeWarning`` in favour
  of an older complete one;
* at the end of training a task writes ``done.json``; it deletes its backups
  only once every task has written one (a peer that crashed after the last
  epoch may still need them), and a later run where all tasks are done starts
  afresh.

The same holds on Keras's JAX backend (``strategy="multiworker"``): each
process backs up to ``process-<id>`` (``KERAS_DISTRIBUTION_*`` variables) or
to its ``TF_CONFIG`` task's folder; when one dies, restart them all.

Recovery: when a worker dies, the others fail within seconds with
``tf.errors.UnavailableError`` ("tasks are unhealthy") rather than hang.
Restarting only the dead worker does not work (the survivors' strategy is
gone and a lone restarted worker waits for its peers in strategy creation);
restart the whole cluster with the same ``backup_dir``: every worker
resumes after the last epoch that all of them completed.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
import warnings

import keras

logger = logging.getLogger("tfzoo.distribute")

_RECORD = re.compile(r"^epoch-(\d+)\.json$")
DONE = "done.json"


def _keras_cluster(env):
    """The cluster of the ``KERAS_DISTRIBUTION_*`` variables (JAX only), or None."""
    from tfzoo._backend import backend
    from tfzoo.distribute import jax_multiworker as jmw

    if backend() != "jax" or not any(
        env.get(name) for name in (jmw.ADDRESSES, jmw.NUM_PROCESSES, jmw.PROCESS_ID)
    ):
        return None
    return jmw.jax_cluster(env)


def task_name(environ=None):
    """This process's name: ``"<type>-<index>"`` in ``TF_CONFIG`` (``"single"`` without one).

    On Keras's JAX backend with a cluster given by ``KERAS_DISTRIBUTION_*``
    variables (:mod:`tfzoo.distribute.jax_multiworker`): ``"process-<id>"``.
    """
    env = os.environ if environ is None else environ
    cluster = _keras_cluster(env)
    if cluster is not None:
        return f"process-{cluster.process_id}"
    raw = env.get("TF_CONFIG")
    if not raw:
        return "single"
    task = json.loads(raw).get("task", {})
    if "type" not in task:
        return "single"
    return f"{task['type']}-{int(task.get('index', 0))}"


def _cluster_tasks(environ=None):
    """Names of the tasks that train together (``TF_CONFIG``'s chief and workers)."""
    env = os.environ if environ is None else environ
    cluster = _keras_cluster(env)
    if cluster is not None:
        return [f"process-{i}" for i in range(cluster.num_processes)]
    raw = env.get("TF_CONFIG")
    if not raw:
        return ["single"]
    cluster = json.loads(raw).get("cluster", {})
    names = [
        f"{kind}-{i}" for kind in ("chief", "worker") for i in range(len(cluster.get(kind, [])))
    ]
    return names or [task_name(env)]


def _sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _write_json_atomic(path, payload):
    tmp = f"{path}.tmp-{os.getpid()}"
    with open(tmp, "w") as f:
        json.dump(payload, f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def _complete_backups(task_dir):
    """``{epoch: weights path}`` of the complete backups in one task's folder.

    A backup is complete when its record ``epoch-<N>.json`` exists and the
    weights file has the size and SHA-256 the record gives. A weights file
    without a record (a crash between the two) is not counted; a record whose
    file is missing, truncated or changed is skipped with a ``RuntimeWarning``.
    """
    found = {}
    if not os.path.isdir(task_dir):
        return found
    for name in os.listdir(task_dir):
        match = _RECORD.match(name)
        if not match:
            continue
        epoch = int(match.group(1))
        path = os.path.join(task_dir, name)
        try:
            with open(path) as f:
                record = json.load(f)
            weights = os.path.join(task_dir, record["weights"])
            ok = (
                int(record["epoch"]) == epoch
                and os.path.getsize(weights) == int(record["bytes"])
                and _sha256(weights) == record["sha256"]
            )
        except (OSError, ValueError, KeyError, TypeError) as exc:
            ok, why = False, f"{type(exc).__name__}: {exc}"
        else:
            why = "the weights file does not match its record (truncated or changed)"
        if ok:
            found[epoch] = weights
        else:
            warnings.warn(
                f"ignoring the backup of epoch {epoch} in {task_dir}: {why}",
                RuntimeWarning,
                stacklevel=2,
            )
    return found


def _agreed_epoch(root_dir, tasks):
    """The newest epoch of which every task in ``tasks`` has a complete backup.

    Returns ``(epoch, {task: {epoch: weights path}})``; ``epoch`` is None
    when there is no such epoch.
    """
    backups = {task: _complete_backups(os.path.join(root_dir, task)) for task in tasks}
    common = set.intersection(*(set(b) for b in backups.values())) if backups else set()
    return (max(common) if common else None), backups


def _all_done(root_dir, tasks):
    """Whether every task wrote its end-of-training marker."""
    return all(os.path.exists(os.path.join(root_dir, t, DONE)) for t in tasks)


class BackupAndRestore(keras.callbacks.BackupAndRestore):
    """Per-task, atomic backups that all tasks of a cluster restore alike.

    Args:
        backup_dir: root folder shared by all tasks; this task writes under
            ``backup_dir/<type>-<index>`` and reads every task's folder when
            it restores (see the module docstring).
        keep: complete backups each task keeps (its newest ones; >= 2 lets the
            tasks agree when one died while saving).
        delete_checkpoint: delete the backups once every task has finished
            training (then the next run starts afresh); with ``False`` they
            stay and a next run restores the final state.
        save_freq: only ``"epoch"`` (backups are taken between epochs, where
            all tasks are at the same step).
        tasks: the task names that share ``backup_dir`` (default: the chief
            and workers of ``TF_CONFIG``, or ``["single"]`` without it; on
            Keras's JAX backend ``process-0`` ... ``process-<N-1>`` for a cluster
            of ``KERAS_DISTRIBUTION_*`` variables or a multi-process
            ``keras.distribution`` that ``fit`` runs under).

    On JAX (``strategy="multiworker"``, :mod:`tfzoo.distribute.jax_multiworker`)
    every process saves its replicated weights to its own folder and all of
    them restore the newest epoch they all saved, as on TensorFlow.
    """

    def __init__(
        self, backup_dir, *, keep=2, delete_checkpoint=True, save_freq="epoch", tasks=None
    ):
        if save_freq != "epoch":
            raise ValueError(
                f"save_freq must be 'epoch' (tfzoo backs up between epochs), got {save_freq!r}"
            )
        if not isinstance(keep, int) or isinstance(keep, bool) or keep < 1:
            raise ValueError(f"keep must be an integer >= 1, got {keep!r}")
        self.root_dir = str(backup_dir)
        self.task = task_name()
        self.tasks = list(tasks) if tasks is not None else _cluster_tasks()
        self._tasks_given = tasks is not None
        if self.task not in self.tasks:
            raise ValueError(f"this task {self.task!r} is not among tasks={self.tasks!r}")
        self.keep = keep
        super().__init__(
            os.path.join(self.root_dir, self.task),
            save_freq="epoch",
            delete_checkpoint=delete_checkpoint,
        )

    # -------------------------------------------------------------- restore
    def _adopt_jax_processes(self):
        """On JAX, the processes of the multi-process distribution ``fit`` runs under.

        For a run started without a cluster in the environment (e.g. by
        ``keras.distribution.initialize(...)`` with arguments): each process
        becomes ``"process-<id>"``, as with the ``KERAS_DISTRIBUTION_*`` variables.
        """
        if self._tasks_given or self.task != "single" or keras.backend.backend() != "jax":
            return
        from tfzoo.distribute.jax_multiworker import process_share

        share = process_share(keras.distribution.distribution())
        if share is None:
            return
        self.task = f"process-{share[0]}"
        self.tasks = [f"process-{i}" for i in range(share[1])]
        self.backup_dir = os.path.join(self.root_dir, self.task)

    def on_train_begin(self, logs=None):
        self._adopt_jax_processes()
        if self.delete_checkpoint and _all_done(self.root_dir, self.tasks):
            # The previous run finished everywhere: start afresh.
            self._clear()
            return
        epoch, backups = _agreed_epoch(self.root_dir, self.tasks)
        if epoch is None:
            if backups[self.task]:
                logger.info("no epoch that all of %s backed up: starting afresh", self.tasks)
            self._clear()
            return
        if not self.model.built:
            raise ValueError(
                "To use the BackupAndRestore callback, the model must be built before fit()."
            )
        if self.model.optimizer is not None and not self.model.optimizer.built:
            self.model.optimizer.build(self.model.trainable_variables)
        self.model.load_weights(backups[self.task][epoch])
        self.model._initial_epoch = epoch
        self._current_epoch = epoch
        logger.info("%s restored epoch %d from %s", self.task, epoch, self.backup_dir)

    def _clear(self):
        if os.path.isdir(self.backup_dir):
            shutil.rmtree(self.backup_dir)

    # ----------------------------------------------------------------- save
    def on_epoch_end(self, epoch, logs=None):
        self._current_epoch = epoch + 1
        self._save_model()

    def on_train_batch_end(self, batch, logs=None):
        pass

    def _save_model(self):
        os.makedirs(self.backup_dir, exist_ok=True)
        epoch = self._current_epoch
        name = f"epoch-{epoch}.weights.h5"
        path = os.path.join(self.backup_dir, name)
        tmp = os.path.join(self.backup_dir, f"tmp-{os.getpid()}-{name}")
        self.model.save_weights(tmp, overwrite=True)
        os.replace(tmp, path)
        record = {"epoch": epoch, "weights": name, "bytes": os.path.getsize(path)}
        record["sha256"] = _sha256(path)
        _write_json_atomic(os.path.join(self.backup_dir, f"epoch-{epoch}.json"), record)
        self._prune(epoch)

    def _prune(self, newest):
        for name in os.listdir(self.backup_dir):
            match = re.match(r"^epoch-(\d+)\.(json|weights\.h5)$", name)
            if match and int(match.group(1)) <= newest - self.keep:
                if name.endswith(".json"):  # the record first: a file without one is ignored
                    os.remove(os.path.join(self.backup_dir, name))
        for name in os.listdir(self.backup_dir):
            match = re.match(r"^epoch-(\d+)\.weights\.h5$", name)
            if match and int(match.group(1)) <= newest - self.keep:
                os.remove(os.path.join(self.backup_dir, name))

    # ------------------------------------------------------------------ end
    def on_train_end(self, logs=None):
        if not self.delete_checkpoint:
            return
        os.makedirs(self.backup_dir, exist_ok=True)
        _write_json_atomic(os.path.join(self.backup_dir, DONE), {"task": self.task})
        if _all_done(self.root_dir, self.tasks):
            # Every task finished: no one needs this task's backups any more.
            for name in os.listdir(self.backup_dir):
                if name != DONE:
                    os.remove(os.path.join(self.backup_dir, name))
