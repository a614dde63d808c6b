r"""The instability screen: where is training unstable at k = 0 but not later?

    nohup nice -n 19 python tools/run_screen.py --workdir=workdirs/screen &
    python tools/run_screen.py --table          # the table of committed rows

Each candidate setup runs `python -m kdticket_tf.train
--flagfile=configs/mnist1d_instability.flags` with its own flags (model,
width, depth, training-set size, learning rate, epochs, start steps) in
`WORKDIR/<name>`, one after the other (one training process at a time);
rerunning resumes. A finished candidate's row (dense test accuracy, the
barrier at every start step, wall time) goes to `docs/instability_screen/
<name>.json`; `--table` prints the Markdown table of every such row, ordered
as the candidates are. All candidates: SGD with momentum 0.9, no warm-up,
step decay at 50% and 75% of training.
"""

import json
import os
import subprocess
import sys
import time

from absl import app
from absl import flags

FLAGS = flags.FLAGS
flags.DEFINE_string("workdir", "workdirs/screen", "Parent of the candidates' "
                    "workdirs.")
flags.DEFINE_string("screen_rows", "docs/instability_screen",
                    "Where each finished candidate's row is written.")
flags.DEFINE_list("only", [], "Run only these candidates (default: all).")
flags.DEFINE_bool("table", False, "Print the table of the rows and exit.")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FLAGFILE = os.path.join(ROOT, "configs", "mnist1d_instability.flags")
_MLP = ("--model=mlp1d", "--width=100")
_CONV = ("--model=conv1d", "--width=25")
_RESNET8 = ("--model=resnet1d", "--depth=8", "--width=16")
_RESNET20 = ("--model=resnet1d", "--depth=20", "--width=16")
# 40,000 sequences: 400 steps per epoch, 12 epochs (4,800 steps).
_LARGE = ("--train_size=40000", "--epochs=12", "--lr_milestones=6ep,9ep",
          "--instability_steps=0,200it,1ep")

# Half the length (30 epochs, decay at 15 and 22) and one k > 0: the later
# candidates, run when the machine was shared by several helpers.
_SHORT = ("--epochs=30", "--lr_milestones=15ep,22ep",
          "--instability_steps=0,2ep")

# (name, what it is, extra flags), in the order they run.
CANDIDATES = (
    ("mlp_4k_lr0.1", "MLP 100-100, 4,000 sequences, lr 0.1", _MLP + ("--lr=0.1",)),
    ("conv_4k_lr0.1", "ConvNet 25 channels, 4,000, lr 0.1", _CONV + ("--lr=0.1",)),
    ("mlp_4k_lr0.4", "MLP 100-100, 4,000, lr 0.4", _MLP + ("--lr=0.4",)),
    ("mlp_40k_lr0.2", "MLP 100-100, 40,000 sequences, lr 0.2",
     _MLP + _LARGE + ("--lr=0.2",)),
    ("conv_4k_lr0.4", "ConvNet 25 channels, 4,000, lr 0.4", _CONV + ("--lr=0.4",)),
    ("conv_4k_lr0.2_30ep", "ConvNet 25 channels, 4,000, lr 0.2, 30 epochs",
     _CONV + _SHORT + ("--lr=0.2",)),
    ("mlp_4k_lr0.2_30ep", "MLP 100-100, 4,000, lr 0.2, 30 epochs",
     _MLP + _SHORT + ("--lr=0.2",)),
    ("conv_4k_lr0.4_30ep", "ConvNet 25 channels, 4,000, lr 0.4, 30 epochs",
     _CONV + _SHORT + ("--lr=0.4",)),
    ("resnet8_4k_lr0.1_30ep",
     "ResNet-1D-8 (BatchNorm) width 16, 4,000, lr 0.1, 30 epochs",
     _RESNET8 + _SHORT + ("--lr=0.1",)),
    ("resnet8_4k_lr0.1", "ResNet-1D-8 (BatchNorm) width 16, 4,000, lr 0.1",
     _RESNET8 + ("--lr=0.1",)),
    ("conv_40k_lr0.2", "ConvNet 25 channels, 40,000, lr 0.2",
     _CONV + _LARGE + ("--lr=0.2",)),
    ("resnet8_4k_lr0.4", "ResNet-1D-8 (BatchNorm) width 16, 4,000, lr 0.4",
     _RESNET8 + ("--lr=0.4",)),
    ("resnet20_4k_lr0.1", "ResNet-1D-20 (BatchNorm) width 16, 4,000, lr 0.1",
     _RESNET20 + ("--lr=0.1",)),
    ("resnet8_40k_lr0.2", "ResNet-1D-8 (BatchNorm) width 16, 40,000, lr 0.2",
     _RESNET8 + _LARGE + ("--lr=0.2",)),
)


def command(name, extra, workdir):
  """Returns the trainer's command line of one candidate."""
  return [sys.executable, "-m", "kdticket_tf.train", f"--flagfile={FLAGFILE}",
          *extra, f"--workdir={os.path.join(workdir, name)}"]


def screen_row(name, description, extra, folder, status, wall_seconds):
  """Returns a candidate's row from its finished workdir."""
  row = {"name": name, "setup": description, "flags": list(extra),
         "status": status, "wall_seconds": wall_seconds}
  results_path = os.path.join(folder, "results.json")
  if os.path.exists(results_path):
    with open(results_path, encoding="utf-8") as stream:
      dense = [r for r in json.load(stream) if r["level"] == 0]
    if dense:
      row["dense_test_accuracy"] = dense[0].get("test_accuracy")
      row["dense_seconds"] = dense[0].get("seconds")
      row["dense_status"] = dense[0].get("status")
      row["dense_error"] = dense[0].get("error")
  path = os.path.join(folder, "instability.json")
  if os.path.exists(path):
    with open(path, encoding="utf-8") as stream:
      rows = json.load(stream)["rows"]
    row["instability"] = [
        {k: r[k] for k in ("start", "start_step", "barrier", "train_barrier",
                           "end_errors", "errors", "bn_statistics", "stable",
                           "seconds")} for r in rows if r["level"] == 0]
  return row


def _step(row):
  """`0`, `2ep (80 it)` or `200it`: a start step as given, in iterations."""
  if not row["start_step"]:
    return "0"
  if row["start"].endswith("it"):
    return row["start"]
  return f"{row['start']} ({row['start_step']} it)"


def table(rows):
  """Returns the Markdown table of screen rows (in the candidates' order)."""
  order = [name for name, _, _ in CANDIDATES]
  rows = sorted(rows, key=lambda r: (order.index(r["name"])
                                     if r["name"] in order else len(order)))
  lines = ["| setup | dense test acc. (%) | barrier at k (test error points) "
           "| unstable at 0, stable later | wall time |",
           "|---|---|---|---|---|"]
  for row in rows:
    accuracy = row.get("dense_test_accuracy")
    found = row.get("instability") or []
    barriers = "; ".join(f"k={_step(r)}: {r['barrier']:.2f}"
                         for r in found) or (
                             row.get("dense_error") or row["status"])
    signature = "n/a"
    if found:
      first, later = found[0], found[1:]
      signature = "yes" if (not first["stable"] and
                            any(r["stable"] for r in later)) else "no"
    lines.append(
        f"| {row['setup']} | "
        f"{'n/a' if accuracy is None else f'{100 * accuracy:.2f}'} | "
        f"{barriers} | {signature} | {row['wall_seconds'] / 60:.1f} min |")
  return "\n".join(lines) + "\n"


def read_rows(folder):
  """Returns every row under `folder`."""
  rows = []
  for name in sorted(os.listdir(folder)) if os.path.isdir(folder) else ():
    if name.endswith(".json"):
      with open(os.path.join(folder, name), encoding="utf-8") as stream:
        rows.append(json.load(stream))
  return rows


def main(argv):
  del argv
  if FLAGS.table:
    print(table(read_rows(FLAGS.screen_rows)), end="")
    return 0
  os.makedirs(FLAGS.screen_rows, exist_ok=True)
  os.makedirs(FLAGS.workdir, exist_ok=True)
  for name, description, extra in CANDIDATES:
    if FLAGS.only and name not in FLAGS.only:
      continue
    folder = os.path.join(FLAGS.workdir, name)
    started = time.time()
    with open(f"{folder}.log", "a", encoding="utf-8") as log:
      status = subprocess.call(command(name, extra, FLAGS.workdir),
                               stdout=log, stderr=subprocess.STDOUT)
    wall = time.time() - started
    row = screen_row(name, description, extra, folder,
                     "done" if status == 0 else f"exit {status}", wall)
    previous = os.path.join(FLAGS.screen_rows, f"{name}.json")
    if os.path.exists(previous):  # a resumed candidate: keep the first time
      with open(previous, encoding="utf-8") as stream:
        row["wall_seconds"] = max(row["wall_seconds"],
                                  json.load(stream)["wall_seconds"])
    with open(previous, "w", encoding="utf-8") as stream:
      json.dump(row, stream, indent=1)
    print(f"{name}: {row['status']} in {wall:.0f}s", flush=True)
  return 0


if __name__ == "__main__":
  app.run(main)
