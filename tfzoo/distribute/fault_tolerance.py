"""Fault tolerance for multi-worker training.

Keras 3's ``BackupAndRestore`` has no notion of chief and workers: every
worker writes the same file names into the same ``backup_dir``, so on a
shared file system they clobber each other. :class:`BackupAndRestore` gives
each task its own sub-folder (``worker-0``, ``worker-1``, ``chief-0``…).

Recovery: when a worker dies, the others fail within seconds with
``tf.errors.UnavailableError`` ("tasks are unhealthy") rather than hang.
Restarting only the dead worker does not work (the survivors' strategy is
gone and a lone restarted worker waits for its peers in strategy creation);
restart the whole cluster with the same ``backup_dir``: every worker
resumes after the last epoch that all of them completed.
"""

from __future__ import annotations

import json
import os

import keras


def task_name(environ=None):
    """``"<type>-<index>"`` of this process in ``TF_CONFIG`` (``"single"`` without one)."""
    env = os.environ if environ is None else environ
    raw = env.get("TF_CONFIG")
    if not raw:
        return "single"
    task = json.loads(raw).get("task", {})
    if "type" not in task:
        return "single"
    return f"{task['type']}-{int(task.get('index', 0))}"


class BackupAndRestore(keras.callbacks.BackupAndRestore):
    """``keras.callbacks.BackupAndRestore`` with one folder per cluster task.

    Args:
        backup_dir: shared root folder; this task writes under
            ``backup_dir/<type>-<index>``.
        **kwargs: as ``keras.callbacks.BackupAndRestore`` (``save_freq``,
            ``double_checkpoint``, ``delete_checkpoint``).
    """

    def __init__(self, backup_dir, **kwargs):
        self.root_dir = str(backup_dir)
        super().__init__(os.path.join(self.root_dir, task_name()), **kwargs)
