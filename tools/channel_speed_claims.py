"""Study E's speed figures (docs/channel_tickets.md, "Speed"), from its runs.

`claims(bench)` lists the fragments the speed section must hold, each number
rendered from the committed benchmarks, repeated runs and Session profiles
(`docs/channel_tickets/`), and each verdict on a target computed from them.
"""

import re

import kdticket_tf

import inference_tables
import prose_claims

Claim = prose_claims.Claim
TICKET = "lt_compact/1"  # the compacted ticket of each benchmark
CONTROLS = {"lenet": "control:lenet_60_20", "resnet": "control:resnet20_width8"}
# The targets: {network: {timing: highest ratio to dense}}.
TARGETS = {"lenet": {"tflite_b1_t1": 0.20, "session_b32_t1": 0.45},
           "resnet": {"tflite_b1_t1": 0.50, "session_b32_t1": 0.40}}
REPEATED = "session_b32_t1"  # the timing LeNet's repeated runs take
# The same on the calling thread (`--caller_thread`): TF Serving with
# --tensorflow_intra_op_parallelism=1 --tensorflow_inter_op_parallelism=-1.
# The targets are judged on REPEATED, TF Serving's default threading.
REPEATED_ON_CALLER = f"{inference_tables.CALLER_THREAD}_b32_t1"


def _ratio(bench, name, label):
  """`name`'s latency ratio to dense at `label`, as the prose writes it."""
  model = next(m for m in bench["models"] if m["name"] == name)
  return f"{model['latency'][label]['ratio_to_dense']:.2f}x"


def _ratio_value(bench, name, label):
  model = next(m for m in bench["models"] if m["name"] == name)
  return model["latency"][label]["ratio_to_dense"]


def _verdict(bench, name, label, target):
  """`target 0.45x: met in this run` (or `missed`) for `name` at `label`."""
  met = _ratio_value(bench, name, label) <= target
  return f"target {target:.2f}x: {'met' if met else 'missed'} in this run"


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
            ratio < TARGETS["resnet"][REPEATED] and call[2] > call[0] and
            call[3] > call[1]),
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


def _floors(runs, label):
  """The empty call's seconds at `label` in each run (`--session_floor`)."""
  return [run["meta"]["session_floor"][label]["seconds"] for run in runs]


def _repeat_claims(runs, ticket):
  """LeNet's Session ratio at batch 32 over the repeated runs."""
  label = REPEATED
  ratios = [_ratio_value(run, ticket, label) for run in runs]
  floors = _floors(runs, label)
  met = sum(ratio <= TARGETS["lenet"][label] for ratio in ratios)
  return [
      Claim(f"Timed again in {len(runs)} separate processes, the compacted "
            f"LeNet took {min(ratios):.2f}x to {max(ratios):.2f}x of the "
            f"dense model's time at batch 32, under the target in {met} of "
            f"{len(runs)} runs, while the empty call took "
            f"{_us(min(floors))} to {_us(max(floors))}", len(runs) >= 3),
  ]


def _caller_claims(lenet, resnet, runs, ticket):
  """The Session on the caller's thread: no hand-off to the inter-op pool."""
  label, pool = REPEATED_ON_CALLER, REPEATED
  if not runs or any(label not in run["meta"]["session_floor"]
                     for run in [lenet, resnet] + runs):
    raise ValueError(f"the benchmarks lack {label}; rerun "
                     "tools/channel_benchmark.sh, which times it")
  floor = lenet["meta"]["session_floor"]
  ratios = [_ratio_value(run, ticket, label) for run in runs]
  floors, pooled = _floors(runs, label), _floors(runs, pool)
  target = TARGETS["lenet"][pool]
  met = sum(ratio <= target for ratio in ratios)
  return [
      Claim(f"the empty call takes {_us(floor[label]['seconds'])} at batch "
            f"32 instead of {_us(floor[pool]['seconds'])}",
            floor[label]["seconds"] < floor[pool]["seconds"]),
      Claim(f"the compacted LeNet runs at {_ratio(lenet, ticket, label)} of "
            f"the dense model's time (control "
            f"{_ratio(lenet, CONTROLS['lenet'], label)}) and ResNet-20's at "
            f"{_ratio(resnet, ticket, label)} (control "
            f"{_ratio(resnet, CONTROLS['resnet'], label)})"),
      Claim(f"In the {len(runs)} repeated runs the empty call took "
            f"{_us(min(floors))} to {_us(max(floors))} on the caller's "
            f"thread (through the pool {_us(min(pooled))} to "
            f"{_us(max(pooled))}), and the compacted LeNet "
            f"{min(ratios):.2f}x to {max(ratios):.2f}x, at or under "
            f"{target:.2f}x in {met} of {len(runs)}",
            max(floors) < min(pooled)),
  ]


def claims(bench):
  """The speed section's figures, from the committed benchmarks."""
  lenet, resnet = bench["lenet"], bench["resnet20"]
  ticket, control, target = TICKET, CONTROLS, TARGETS
  macs = {k: next(m for m in b["models"] if m["name"] == ticket)["macs_ratio"]
          for k, b in (("lenet", lenet), ("resnet", resnet))}
  b1, b32, b256 = "tflite_b1_t1", "session_b32_t1", "session_b256_t1"
  busy = [value for name in ("lenet", "resnet20", "lenet_tickets")
          for value in inference_tables.session_busy(bench[name]["models"])]
  dense_b1 = lenet["models"][0]["latency"]["session_b1_t1"]["seconds"]
  one_thread = all(run["meta"]["tensorflow_threads"] ==
                   {"intra_op": 1, "inter_op": 1} for run in (lenet, resnet))
  return [
      Claim(f"({macs['lenet']:.2f}x the multiply-adds) runs at "
            f"{_ratio(lenet, ticket, b1)} of the dense model's latency in "
            f"TFLite at batch 1 ({_verdict(lenet, ticket, b1, target['lenet'][b1])})"
            " and "
            f"{_ratio(lenet, ticket, b32)} in a TF Session at batch 32 "
            f"({_verdict(lenet, ticket, b32, target['lenet'][b32])})"),
      Claim(f"({macs['resnet']:.2f}x the multiply-adds) runs at "
            f"{_ratio(resnet, ticket, b1)} in TFLite "
            f"({_verdict(resnet, ticket, b1, target['resnet'][b1])}) and "
            f"{_ratio(resnet, ticket, b32)} in a TF Session at batch 32 "
            f"({_verdict(resnet, ticket, b32, target['resnet'][b32])})"),
      Claim(f"(TFLite {_ratio(lenet, control['lenet'], b1)} and "
            f"{_ratio(resnet, control['resnet'], b1)}; TF Session at batch "
            f"32 {_ratio(lenet, control['lenet'], b32)} and "
            f"{_ratio(resnet, control['resnet'], b32)})"),
      Claim("a Session call of the dense LeNet at batch 1 took "
            f"{1e6 * dense_b1:.1f} µs, where the issue's reference measured 78 µs", one_thread),
      Claim(f"compacted ticket takes {_ratio(lenet, ticket, 'session_b1_t1')}"
            f" of the dense model's time at batch 1 with {macs['lenet']:.2f}x "
            "its multiply-adds"),
      Claim(f"at batch 256 the TF Session ratios fall to "
            f"{_ratio(lenet, ticket, b256)} and "
            f"{_ratio(resnet, ticket, b256)}"),
      *_floor_claims(lenet, resnet, ticket),
      *_repeat_claims(bench["repeats"], ticket),
      *_caller_claims(lenet, resnet, bench["repeats"], ticket),
      Claim("used over its wall time "
            f"({inference_tables.busy_range(busy)} in the runs below)",
            max(busy) < 1.2),
  ] + _profile_claims(bench["profiles"])
