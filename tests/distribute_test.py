"""Distributed training: MirroredStrategy on virtual CPUs, two workers on localhost."""

import json
import os
import socket
import subprocess
import sys
from unittest import mock

import numpy as np
import tensorflow as tf

from kdticket_tf.run import strategies as distribute
from kdticket_tf.store import layout
from kdticket_tf.pruning import masks as masks_lib

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ARGS = ("--dataset=synthetic", "--synthetic_examples=1024", "--batch_size=64",
        "--model=lenet_300_100", "--epochs=2", "--optimizer=adam", "--lr=1e-3",
        "--levels=1", "--noexport", "--verbose=0", "--deterministic")


def _env(**extra):
  return dict(os.environ, PYTHONPATH=ROOT, TF_CPP_MIN_LOG_LEVEL="2", **extra)


def _arrays(path):
  with np.load(path) as archive:
    return [archive[key] for key in sorted(archive.files)]


def _rows(workdir):
  with open(os.path.join(workdir, "results.json")) as stream:
    return {(r["recipe"], r["level"]): r for r in json.load(stream)}


class StrategyUnitTest(tf.test.TestCase):

  def test_chief_from_tf_config(self):
    cluster = {"worker": ["localhost:1", "localhost:2"]}
    for index, chief in ((0, True), (1, False)):
      config = json.dumps({"cluster": cluster,
                           "task": {"type": "worker", "index": index}})
      with mock.patch.dict(os.environ, {"TF_CONFIG": config}):
        strategy = mock.Mock(spec=tf.distribute.MultiWorkerMirroredStrategy)
        self.assertEqual(distribute.is_chief(strategy), chief)
        self.assertEqual(layout.Layout("/w").worker(*distribute.task()).workdir,
                         f"/w/workers/worker_{index}")
    self.assertTrue(distribute.is_chief(tf.distribute.get_strategy()))

  def test_local_workers_get_their_own_gpus_and_threads(self):
    with mock.patch.object(tf.config, "list_physical_devices",
                           return_value=["gpu"] * 4), \
         mock.patch.dict(os.environ, {"CUDA_VISIBLE_DEVICES": "2,3,5,7"}):
      environments = distribute.worker_environments(2, threads=4)
      self.assertEqual([e["CUDA_VISIBLE_DEVICES"] for e in environments],
                       ["2,3", "5,7"])
      self.assertEqual(environments[0]["TF_NUM_INTRAOP_THREADS"], "4")
      self.assertEqual([e["CUDA_VISIBLE_DEVICES"] for e in
                        distribute.worker_environments(4, 1)],
                       ["2", "3", "5", "7"])
      with self.assertRaisesRegex(ValueError, "needs 6 GPUs, but 4"):
        distribute.worker_environments(3, 2)
      with self.assertRaisesRegex(ValueError, "workers=5 is more than the 4"):
        distribute.worker_environments(5)  # never a silent fall to the CPU
      self.assertEqual([e["CUDA_VISIBLE_DEVICES"] for e in
                        distribute.worker_environments(5, 0)], [""] * 5)
    with mock.patch.object(tf.config, "list_physical_devices",
                           return_value=[]):
      self.assertEqual(distribute.worker_environments(2), [{}, {}])

  def test_unknown_strategy(self):
    with self.assertRaisesRegex(ValueError, "strategy='tpu'"):
      distribute.make_strategy("tpu")


class MirroredTest(tf.test.TestCase):
  # A batch the replicas do not divide is refused: see train_test.BAD_INPUTS.
  # The lt ticket only: a Distiller under MirroredStrategy is tested in
  # distill_test.DistillerUnderMirroredStrategyTest.

  def test_two_replicas_give_the_single_device_masks_and_accuracy(self):
    mirrored = os.path.join(self.get_temp_dir(), "mirrored")
    single = os.path.join(self.get_temp_dir(), "single")
    processes = [  # side by side, one core each
        subprocess.Popen(
            [sys.executable, "-m", "kdticket_tf.train", f"--workdir={workdir}",
             *ARGS, "--recipes=lt", *args], cwd=ROOT,
            env=_env(TF_NUM_INTRAOP_THREADS="1", TF_NUM_INTEROP_THREADS="1"),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for workdir, args in ((mirrored, ("--virtual_cpus=2",
                                          "--strategy=mirrored")),
                              (single, ("--strategy=one_device",)))]
    for process in processes:
      _, stderr = process.communicate(timeout=900)
      self.assertEqual(process.returncode, 0, stderr[-3000:])
    # Masks: the mirrored run's, and the ones computed on one device from the
    # same dense weights, are identical bit for bit.
    dense = _arrays(os.path.join(mirrored, "dense", "final.weights.npz"))
    kernels = [w for w in dense if w.ndim == 2]
    expected = masks_lib.iterative_masks(kernels, masks_lib.ones_like(kernels),
                                         0.2)
    saved = _arrays(os.path.join(mirrored, "lt", "level_01", "masks.npz"))
    self.assertLen(saved, len(expected))
    for a, b in zip(expected, saved):
      self.assertAllEqual(a, b)
    rows_mirrored, rows_single = _rows(mirrored), _rows(single)
    for key in rows_single:
      self.assertNear(rows_mirrored[key]["test_accuracy"],
                      rows_single[key]["test_accuracy"], 0.05, msg=str(key))


def _free_ports(count):
  sockets = [socket.socket() for _ in range(count)]
  for s in sockets:
    s.bind(("localhost", 0))
  ports = [s.getsockname()[1] for s in sockets]
  for s in sockets:
    s.close()
  return ports


class MultiWorkerTest(tf.test.TestCase):

  def test_two_workers_on_localhost(self):
    workdir = os.path.join(self.get_temp_dir(), "multi")
    cluster = {"worker": [f"localhost:{p}" for p in _free_ports(2)]}
    processes = []
    for index in range(2):
      config = json.dumps({"cluster": cluster,
                           "task": {"type": "worker", "index": index}})
      processes.append(subprocess.Popen(
          [sys.executable, "-m", "kdticket_tf.train", f"--workdir={workdir}",
           *ARGS, "--recipes=lt,kd", "--strategy=multi_worker"], cwd=ROOT,
          env=_env(TF_CONFIG=config), stdout=subprocess.PIPE,
          stderr=subprocess.PIPE, text=True))
    outputs = [p.communicate(timeout=900) for p in processes]
    for process, (_, stderr) in zip(processes, outputs):
      self.assertEqual(process.returncode, 0, stderr[-3000:])
    worker = os.path.join(workdir, "workers", "worker_1")
    for recipe in ("lt", "kd"):
      chief_masks = _arrays(os.path.join(workdir, recipe, "level_01",
                                         "masks.npz"))
      worker_masks = _arrays(os.path.join(worker, recipe, "level_01",
                                          "masks.npz"))
      for a, b in zip(chief_masks, worker_masks):
        self.assertAllEqual(a, b)
    self.assertTrue(os.path.exists(os.path.join(workdir, "results.json")))
    for name in ("results.json", "results.csv", "accuracy_vs_sparsity.png",
                 "tensorboard", "export"):
      self.assertFalse(os.path.exists(os.path.join(worker, name)), name)


if __name__ == "__main__":
  tf.test.main()
