"""Study E's prose numbers (docs/channel_tickets.md), and its trade-off plot.

`claims(study, bench)` lists the fragments the doc's prose must hold, each
number rendered from the committed rows (`prose_claims`); `plot` draws test
accuracy against measured TFLite latency for the unstructured and 1x4 tickets
of study D and the channel tickets of study E (LeNet-300-100 on
Fashion-MNIST, the same training), each latency a ratio to the dense model of
its own benchmark run.
"""

import glob
import json
import os
import re

import kdticket_tf

import inference_tables
import prose_claims

number, spread, mean = prose_claims.number, prose_claims.spread, prose_claims.mean
Claim = prose_claims.Claim
STUDY_D = os.path.join("docs", "structured_tickets")
LEVELS = (1, 2, 3)
TARGETS = (0.5, 0.75, 0.9)  # the weights pruned at each level


def _ratio(bench, name, label):
  """`name`'s latency ratio to dense at `label`, as the prose writes it."""
  model = next(m for m in bench["models"] if m["name"] == name)
  return f"{model['latency'][label]['ratio_to_dense']:.2f}x"


def _ratio_value(bench, name, label):
  model = next(m for m in bench["models"] if m["name"] == name)
  return model["latency"][label]["ratio_to_dense"]


def _verdict(bench, name, label, target):
  """`target 0.45x: met` (or `missed`) for `name`'s ratio at `label`."""
  met = _ratio_value(bench, name, label) <= target
  return f"target {target:.2f}x: {'met' if met else 'missed'}"


def _us(seconds):
  return f"{1e6 * seconds:.0f} µs"


def _profile_claims(profiles):
  """Where the Session's time goes (`session_profile_*.json`)."""
  lenet, resnet = (_in_order(profiles[k]["models"], _PROFILED)
                   for k in ("lenet", "resnet20"))
  layers = ("fc1", "fc2", "logits")
  lenet_layers = [sum(m["groups"][g] for g in layers) for m in lenet]
  lenet_fixed = [m["seconds_per_call"] - sum(m["groups"][g] for g in layers)
                 for m in lenet]
  fixed_share = lenet_fixed[1] / lenet[0]["seconds_per_call"]
  stage = {g: resnet[1]["groups"][g] / resnet[0]["groups"][g]
           for g in ("stage1", "stage2", "stage3", "relu1")}
  return [
      Claim(f"LeNet's three layers take {_us(lenet_layers[0])} of the dense "
            f"model's {_us(lenet[0]['seconds_per_call'])} per call at batch "
            f"32 and {_us(lenet_layers[1])} of the compacted ticket's "
            f"{_us(lenet[1]['seconds_per_call'])}"),
      Claim(f"the rest, {_us(lenet_fixed[0])} and {_us(lenet_fixed[1])}, "
            "is the same for both",
            abs(lenet_fixed[0] - lenet_fixed[1]) < 0.25 * lenet_fixed[0]),
      Claim("the compacted ticket's fixed cost alone is "
            f"{fixed_share:.2f}x of the dense call"),
      Claim(f"stages 2 and 3 (16 and 32 channels left) run at "
            f"{stage['stage2']:.2f}x and {stage['stage3']:.2f}x of their "
            f"dense time, stage 1 (8 channels left) at {stage['stage1']:.2f}x"
            f", and the first convolution, from the single input channel to "
            f"8, at {stage['relu1']:.2f}x",
            stage["stage1"] > max(stage["stage2"], stage["stage3"])),
  ] + _stage1_claims(
      _in_order(profiles["resnet20_layers"]["models"], _PROFILED)
  ) + _avx2_claims(profiles["resnet20"], profiles["resnet20_avx2"])


# The profiles' first two models: the dense model and the compacted ticket.
_PROFILED = (("dense", 0), ("lt_compact", 1))


def _in_order(models, expected):
  """`models`, checked to begin with the served models `expected`."""
  found = [kdticket_tf.parse_serving_path(m["saved_model"])
           for m in models[:len(expected)]]
  if [f[1:] if f else None for f in found] != list(expected):
    raise ValueError(f"the profile's models are {found}, not {expected}")
  return models


def _stage1_claims(models):
  """ResNet-20's stage 1, kernel by kernel (the ungrouped profile)."""
  dense, compact = (m["groups"] for m in models)
  convs = [name for name in dense if _STAGE1_CONV.match(name)]
  ratios = [compact[name] / dense[name] for name in convs]
  stage1 = sum(compact[name] for name in compact
               if name.startswith("stage1_"))
  elementwise = sum(compact[name] for name in compact
                    if _STAGE1_ELEMENTWISE.match(name))
  return [
      Claim(f"its {len(convs)} convolution kernels (each fused with its "
            "BatchNormalization, and its ReLU where one follows, and named "
            f"after the last) run at {min(ratios):.2f}x to {max(ratios):.2f}x"
            " of their dense time",
            len(convs) == 6 and 0.5 < min(ratios) <= max(ratios) < 1),
      Claim(f"its adds and ReLUs take {_us(elementwise)} of the stage's "
            f"{_us(stage1)}", 0 < elementwise < 0.1 * stage1),
  ]


def _avx2_claims(default, avx2):
  """ResNet-20 by stage with oneDNN held to AVX2, beside its default run."""
  dense, compact = _in_order(default["models"], _PROFILED)[:2]
  dense2, compact2 = _in_order(avx2["models"], _PROFILED)[:2]
  settings = (default["meta"]["onednn_settings"],
              avx2["meta"]["onednn_settings"])
  stage1 = [m["groups"]["stage1"] for m in (dense, compact, dense2, compact2)]
  call = [m["seconds_per_call"] for m in (dense, compact, dense2, compact2)]
  ratio = call[3] / call[2]
  return [
      Claim("Held to AVX2 (`ONEDNN_MAX_CPU_ISA=AVX2`), the compacted "
            f"ticket's stage 1 takes {_us(stage1[3])}, as it does with "
            f"AVX-512 ({_us(stage1[1])}), while the dense model's takes "
            f"{_us(stage1[2])} against {_us(stage1[0])}",
            settings == ({}, {"ONEDNN_MAX_CPU_ISA": "AVX2"}) and
            abs(stage1[3] / stage1[1] - 1) < 0.15 and
            stage1[2] / stage1[0] > 1.4),
      Claim(f"The whole call's ratio is then {ratio:.2f}x, under the target, "
            "but only because the dense model runs slower "
            f"({_us(call[2])} against {_us(call[0])}); the ticket is slower "
            f"too ({_us(call[3])} against {_us(call[1])})",
            ratio < 0.40 and call[2] > call[0] and call[3] > call[1]),
  ]


_STAGE1_CONV = re.compile(r"^stage1_block\d_(?:relu1|bn2)$")
_STAGE1_ELEMENTWISE = re.compile(r"^stage1_block\d_(?:add|relu2)$")


def _floor_claims(lenet, resnet, ticket):
  """The Session call's own cost (`--session_floor`) and LeNet net of it."""
  label = "session_b32_t1"
  floor = {name: run["meta"]["session_floor"][label]
           for name, run in (("lenet", lenet), ("resnet", resnet))}
  dense = lenet["models"][0]["latency"][label]["seconds"]
  compact = next(m for m in lenet["models"]
                 if m["name"] == ticket)["latency"][label]["seconds"]
  net = (compact - floor["lenet"]["seconds"]) / (
      dense - floor["lenet"]["seconds"])
  return [
      Claim("takes "
            f"{_us(floor['lenet']['seconds'])} per Session call at batch 32, "
            f"{floor['lenet']['ratio_to_dense']:.2f}x of the dense LeNet's "
            f"call and {floor['resnet']['ratio_to_dense']:.3f}x of the dense "
            "ResNet-20's"),
      Claim(f"Net of it, the compacted LeNet takes {net:.2f}x of the dense "
            "model's time at batch 32", 0 < net),
  ]


def _repeat_claims(runs, ticket):
  """LeNet's Session ratio at batch 32 over the repeated runs."""
  label = "session_b32_t1"
  ratios = [next(m for m in run["models"] if m["name"] == ticket)[
      "latency"][label]["ratio_to_dense"] for run in runs]
  floors = [run["meta"]["session_floor"][label]["seconds"] for run in runs]
  met = sum(ratio <= 0.45 for ratio in ratios)
  return [
      Claim(f"Timed again in {len(runs)} separate processes, the compacted "
            f"LeNet took {min(ratios):.2f}x to {max(ratios):.2f}x of the "
            f"dense model's time at batch 32, under the target in {met} of "
            f"{len(runs)} runs, while the empty call took "
            f"{_us(min(floors))} to {_us(max(floors))}", len(runs) >= 3),
  ]


def speed_claims(bench):
  """The speed section's figures, from the committed benchmarks."""
  lenet, resnet = bench["lenet"], bench["resnet20"]
  ticket, control = "lt_compact/1", {"lenet": "control:lenet_60_20",
                                     "resnet": "control:resnet20_width8"}
  macs = {k: next(m for m in b["models"] if m["name"] == ticket)["macs_ratio"]
          for k, b in (("lenet", lenet), ("resnet", resnet))}
  b1, b32, b256 = "tflite_b1_t1", "session_b32_t1", "session_b256_t1"
  busy = [value for name in ("lenet", "resnet20", "lenet_tickets")
          for value in inference_tables.session_busy(bench[name]["models"])]
  one_thread = all(run["meta"]["tensorflow_threads"] ==
                   {"intra_op": 1, "inter_op": 1} for run in (lenet, resnet))
  return [
      Claim(f"({macs['lenet']:.2f}x the multiply-adds) runs at "
            f"{_ratio(lenet, ticket, b1)} of the dense model's latency in "
            f"TFLite at batch 1 ({_verdict(lenet, ticket, b1, 0.20)}) and "
            f"{_ratio(lenet, ticket, b32)} in a TF Session at batch 32 "
            f"({_verdict(lenet, ticket, b32, 0.45)})"),
      Claim(f"({macs['resnet']:.2f}x the multiply-adds) runs at "
            f"{_ratio(resnet, ticket, b1)} in TFLite "
            f"({_verdict(resnet, ticket, b1, 0.50)}) and "
            f"{_ratio(resnet, ticket, b32)} in a TF Session at batch 32 "
            f"({_verdict(resnet, ticket, b32, 0.40)})"),
      Claim(f"(TFLite {_ratio(lenet, control['lenet'], b1)} and "
            f"{_ratio(resnet, control['resnet'], b1)}; TF Session at batch "
            f"32 {_ratio(lenet, control['lenet'], b32)} and "
            f"{_ratio(resnet, control['resnet'], b32)})"),
      Claim("a Session call of the dense LeNet at batch 1 took "
            f"{1e6 * lenet['models'][0]['latency']['session_b1_t1']['seconds']:.1f}"
            " µs, where the issue's reference measured 78 µs", one_thread),
      Claim(f"compacted ticket takes {_ratio(lenet, ticket, 'session_b1_t1')}"
            f" of the dense model's time at batch 1 with {macs['lenet']:.2f}x "
            "its multiply-adds"),
      Claim(f"at batch 256 the TF Session ratios fall to "
            f"{_ratio(lenet, ticket, b256)} and "
            f"{_ratio(resnet, ticket, b256)}"),
      *_floor_claims(lenet, resnet, ticket),
      *_repeat_claims(bench["repeats"], ticket),
      Claim("used over its wall time "
            f"({inference_tables.busy_range(busy)} in the runs below)",
            max(busy) < 1.2),
  ] + _profile_claims(bench["profiles"])


def _points(values):
  return [100 * v for v in values if v is not None]


KD_PAIRS = (("kd", "lt"), ("kd_rewind", "rewind"),
            ("kd_lr_rewind", "lr_rewind"), ("kd_finetune", "finetune"))


def _pairs_text(study, setup, level):
  return ", ".join(
      f"`{a} − {b}` {spread(_points(study.minus(setup, a, b, level)))}"
      for a, b in KD_PAIRS)


def conv_claims(study):
  """The verdicts on the filters setup."""
  setup = "conv"
  d = {lv: _points(study.minus(setup, "lt", "random_reinit", lv))
       for lv in LEVELS}
  kd75 = {a: _points(study.minus(setup, a, b, 2)) for a, b in KD_PAIRS}
  kd50 = {a: _points(study.minus(setup, a, b, 1)) for a, b in KD_PAIRS}
  best = max(("kd", "kd_rewind", "kd_lr_rewind", "kd_finetune"),
             key=lambda r: mean(_points(study.values(setup, "l1", r, 2))))
  gap = [x - y for x, y in zip(
      _points(study.values(setup, "l1", "dense", 0)),
      _points(study.values(setup, "l1", best, 2)))]
  seed1 = study.found[(setup, "l1")][1]
  theta0 = [100 * r["test_accuracy"] for r in seed1 if r["level"] == 3 and
            r["recipe"] in ("lt", "rewind", "kd", "kd_rewind")]
  refill = _points(study.values(setup, "refill", "lt", 3))
  l1 = _points(study.values(setup, "l1", "lt", 3))
  refill_all = (_points(study.values(setup, "refill", "lt", 3)) +
                _points(study.values(setup, "refill", "kd", 3)))
  return [
      Claim(f"`lt − random_reinit` is {spread(d[1])}, {spread(d[2])} and "
            f"{spread(d[3])} points at 50, 75 and 90%",
            all(prose_claims.within_spread(d[lv]) for lv in LEVELS)),
      Claim(f"at 75% every KD recipe ends above its baseline "
            f"({_pairs_text(study, setup, 2)})",
            all(mean(v) > 0 for v in kd75.values())),
      Claim(f"`kd − lt` above in {prose_claims.seeds_above(kd75['kd'])}",
            prose_claims.all_above(kd75["kd"])),
      Claim(f"at 50% the same differences are "
            f"{', '.join(spread(kd50[a]) for a, _ in KD_PAIRS)}",
            all(abs(mean(v)) < 1 for v in kd50.values())),
      Claim(f"at 90% {_pairs_text(study, setup, 3)}"),
      Claim(f"the best of them at 75%, `{best}` "
            f"({number(mean(_points(study.values(setup, 'l1', best, 2))))}%)"
            f", stays {prose_claims.below([-g for g in gap])} points below "
            "the dense network"),
      Claim("every recipe from θ0 or θk ends at chance "
            f"({number(min(theta0), 1)} to {number(max(theta0), 1)}%)",
            max(theta0) < 20),
      Claim(f"refill's `lt` ends at {spread(refill, signed=False)}% against "
            f"L1's {spread(l1, signed=False)}%",
            mean(refill) > mean(l1) and min(refill_all) >= 20),
      Claim("`lt: refill − L1` is " + " and ".join(
          spread(_points(study.minus(setup, "lt", "lt", lv, arm_a="refill")))
          for lv in (1, 2)) + " points at 50 and 75%",
            all(prose_claims.within_spread(_points(study.minus(
                setup, "lt", "lt", lv, arm_a="refill"))) for lv in (1, 2))),
  ]


def lenet_claims(study):
  """The verdicts on the units setup."""
  setup = "lenet"
  reinit = {lv: _points(study.minus(setup, "lt", "random_reinit", lv))
            for lv in LEVELS}
  dense = _points(study.values(setup, "l1", "dense", 0))
  cost = {lv: [d - x for d, x in zip(
      dense, _points(study.values(setup, "l1", "lt", lv)))] for lv in LEVELS}
  gains = {(a, lv): _points(study.minus(setup, a, b, lv))
           for a, b in KD_PAIRS for lv in LEVELS}
  largest = max(gains, key=lambda k: mean(gains[k]))
  share = {lv: mean([mean(gains[(a, lv)]) for a, _ in KD_PAIRS])
           for lv in LEVELS}
  finetune = {lv: [x - y for x, y in zip(
      _points(study.values(setup, "l1", "finetune", lv)),
      _points(study.values(setup, "l1", "lt", lv)))] for lv in LEVELS}
  refill = {r: [_points(study.minus(setup, r, r, lv, arm_a="refill"))
                for lv in LEVELS] for r in ("lt", "kd")}
  return [
      Claim(f"`lt − random_reinit` is {spread(reinit[1])}, "
            f"{spread(reinit[2])} and {spread(reinit[3])} points at 50, 75 "
            "and 90%",
            all(abs(mean(reinit[lv])) < 0.3 for lv in LEVELS)),
      Claim(f"`lt` ends {prose_claims.below([-c for c in cost[1]])}, "
            f"{prose_claims.below([-c for c in cost[2]])} and "
            f"{prose_claims.below([-c for c in cost[3]])} points below the "
            "dense network at 50, 75 and 90%",
            all(mean(cost[lv]) > 0 for lv in LEVELS)),
      Claim(f"the largest KD gain of any pair at any sparsity is "
            f"{spread(gains[largest])} points (`{largest[0]}` at "
            f"{100 * TARGETS[largest[1] - 1]:.0f}%)",
            mean(gains[largest]) < mean(cost[3])),
      Claim("averaged over the four pairs, KD gains "
            f"{number(share[1], signed=True)}, {number(share[2], signed=True)}"
            f" and {number(share[3], signed=True)} points at 50, 75 and 90%",
            share[3] <= share[1] + 0.1),
      Claim(f"`finetune` ends {prose_claims.below(finetune[3])} points below "
            "`lt` at 90%", mean(finetune[3]) < 0),
      Claim("`lt: refill − L1` is " + ", ".join(
          spread(v) for v in refill["lt"]) + " and `kd: refill − L1` " +
            ", ".join(spread(v) for v in refill["kd"]),
            all(abs(mean(v)) < 0.2 for r in refill for v in refill[r])),
  ]


def claims(study, bench):
  """The prose's numbers, from the rows."""
  return speed_claims(bench) + conv_claims(study) + lenet_claims(study)


def _study_d_points(recipe):
  """`{structure: [(ratio, mean accuracy)]}` of study D's tickets."""
  with open(os.path.join(STUDY_D, "benchmark.json"), encoding="utf-8") as f:
    bench = json.load(f)
  ratios = {}
  for model in bench["models"]:
    if model["level"] and model["recipe"] == "lt":
      ratios[(model["structure"], model["level"])] = (
          model["latency"]["tflite_b1_t1"]["ratio_to_dense"])
  points = {}
  for structure in ("unstructured", "1x4"):
    runs = []
    for path in sorted(glob.glob(os.path.join(STUDY_D, structure,
                                              "seed_*.json"))):
      with open(path, encoding="utf-8") as f:
        runs.append(json.load(f))
    for level in range(1, 5):
      values = [r["test_accuracy"] for rows in runs for r in rows
                if r["recipe"] == recipe and r["level"] == level]
      if values and (structure, level) in ratios:
        points.setdefault(structure, []).append(
            (ratios[(structure, level)], 100 * mean(values)))
  return points


def _channel_points(study, folder, recipe):
  """`[(ratio, mean accuracy)]` of study E's LeNet channel tickets."""
  path = os.path.join(folder, "benchmark_lenet_tickets.json")
  if not os.path.exists(path):
    return []
  with open(path, encoding="utf-8") as f:
    bench = json.load(f)
  ratios = {m["level"]: m["latency"]["tflite_b1_t1"]["ratio_to_dense"]
            for m in bench["models"]
            if m["level"] and m["name"].startswith("lt_compact/")}
  points = []
  for level in LEVELS:
    values = [v for v in study.values("lenet", "l1", recipe, level)
              if v is not None]
    if values and level in ratios:
      points.append((ratios[level], 100 * mean(values)))
  return points


def plot(study, folder, path):
  """Test accuracy (mean over seeds) against TFLite batch-1 latency ratio."""
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use("Agg")
  from matplotlib import pyplot  # pylint: disable=g-import-not-at-top
  figure, axes = pyplot.subplots(figsize=(7, 4.5))
  colours = {"unstructured": "tab:blue", "1x4": "tab:red",
             "channel": "tab:green"}
  for recipe, style in (("lt", "-"), ("kd", ":")):
    series = _study_d_points(recipe)
    series["channel"] = _channel_points(study, folder, recipe)
    for structure, points in series.items():
      if points:
        xs, ys = zip(*sorted(points))
        axes.plot(xs, ys, marker="o" if recipe == "lt" else "^",
                  linestyle=style, color=colours[structure],
                  label=f"{structure} {recipe}")
  axes.axvline(1.0, color="k", linewidth=0.8)
  axes.set_xscale("log")
  axes.set_xlabel("TFLite latency, batch 1, one thread, over the dense "
                  "model's (log scale)")
  axes.set_ylabel("test accuracy (%), mean over 3 seeds")
  axes.set_title("LeNet-300-100, Fashion-MNIST: accuracy against latency")
  axes.grid(alpha=0.3)
  axes.legend(fontsize=8)
  figure.tight_layout()
  figure.savefig(path, dpi=110)
  pyplot.close(figure)
