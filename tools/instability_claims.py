"""The numbers the instability paragraphs of docs/kd_ticket_study.md state.

The instability screen's paragraph and study C's (the confirmation and the
seven recipes), rendered from their rows as `study_claims.py` renders the
rest of the page's prose (see `prose_claims.py`).
"""

import glob
import json
import os
import sys

import kdticket_tf

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import prose_claims  # pylint: disable=g-import-not-at-top,wrong-import-position

Claim = prose_claims.Claim
number, spread, below, each = (prose_claims.number, prose_claims.spread,
                               prose_claims.below, prose_claims.each)
mean, std = prose_claims.mean, prose_claims.std


def read_json(path):
  with open(path, encoding="utf-8") as stream:
    return json.load(stream)


def screen_rows(folder):
  """The instability screen's rows (`tools/run_screen.py` writes them).

  Read here rather than through run_screen, which defines flags of its own.
  """
  return [read_json(p) for p in sorted(glob.glob(os.path.join(
      os.path.dirname(folder), "instability_screen", "*.json")))]


def instability_rows(folder, study):
  """`[rows of each seed]` of a study's dense instability analyses."""
  return [read_json(p)["rows"] for p in sorted(glob.glob(
      os.path.join(folder, study, "instability_seed_*.json")))]


def chosen_barriers(folder, study):
  """The barrier at the k each seed's `rewind_step=auto` chose."""
  return [read_json(p)["choice"]["barrier"] for p in sorted(glob.glob(
      os.path.join(folder, study, "instability_seed_*.json")))]


def screen_claims(folder):
  """The instability screen's paragraph."""
  rows = {r["name"]: r for r in screen_rows(folder)}

  def barrier(name, index, digits=1):
    return number(rows[name]["instability"][index]["barrier"], digits)

  def dense(name):
    return number(100 * rows[name]["dense_test_accuracy"], 1)

  return [
      Claim(f"the ConvNet at lr 0.1 (barrier {barrier('conv_4k_lr0.1', 0, 2)} "
            f"points at k = 0, {barrier('conv_4k_lr0.1', 1, 2)} at k = 2 "
            "epochs) and the MLP at lr 0.1 and 0.2 "
            f"({barrier('mlp_4k_lr0.1', 0, 2)} and "
            f"{barrier('mlp_4k_lr0.2_30ep', 0, 2)} at k = 0; "
            f"{barrier('mlp_4k_lr0.1', 1, 2)} and "
            f"{barrier('mlp_4k_lr0.2_30ep', 1, 2)} at 2 epochs)",
            all(not r["instability"][0]["stable"] and
                r["instability"][1]["stable"]
                for r in (rows["conv_4k_lr0.1"], rows["mlp_4k_lr0.1"],
                          rows["mlp_4k_lr0.2_30ep"]))),
      Claim(f"the MLP at lr 0.4 ({dense('mlp_4k_lr0.4')}% dense) is unstable "
            "at every k tried",
            not any(r["stable"] for r in rows["mlp_4k_lr0.4"]["instability"])),
      Claim("the ConvNet at lr 0.2 over 30 epochs is still unstable at 2 "
            f"epochs ({barrier('conv_4k_lr0.2_30ep', 1)})"),
      Claim(f"trains to only {dense('conv_4k_lr0.4_30ep')}%"),
      Claim(f"The MLP on 40,000 sequences at lr 0.2 ({dense('mlp_40k_lr0.2')}% "
            "dense) is far more unstable "
            f"({barrier('mlp_40k_lr0.2', 0)} points at k = 0) and still above "
            "the threshold at the latest k tried, "
            f"one epoch ({barrier('mlp_40k_lr0.2', -1, 2)})"),
      Claim(f"ResNet-1D-8 ({dense('resnet8_4k_lr0.1_30ep')}%, statistics "
            "recomputed along the path) is stable already at k = 0 "
            f"({barrier('resnet8_4k_lr0.1_30ep', 0, 2)})",
            rows["resnet8_4k_lr0.1_30ep"]["instability"][0]["stable"]),
  ]


def study_c_claims(folder, c, confirm):
  """Study C: the confirmation and the seven recipes."""
  confirm_rows = instability_rows(folder, "study_c_confirm")
  c_rows = instability_rows(folder, "study_c")
  later = [r["barrier"] for rows in confirm_rows for r in rows
           if r["start_step"] > 0]
  failed = confirm.accuracy("lt", 3) + confirm.accuracy("rewind", 3)
  rewind_90 = confirm.accuracy("rewind", 2)
  selection = {os.path.basename(p)[:-5]: kdticket_tf.results.read(p)
               for p in glob.glob(os.path.join(folder, "study_c", "kd_select",
                                               "*.json"))}
  collapsed = [r for r in selection["T5_batchmean"] if r["recipe"] == "kd"][0]
  kd_rewind = c.minus("kd", "rewind", 1) + c.minus("kd", "rewind", 2)
  kd_recipes = [r for r in c.recipes() if r.startswith("kd")]

  def pair(recipe, baseline, level, digits=2):
    return spread(c.minus(recipe, baseline, level), digits)

  return [
      Claim("Every seed is unstable at k = 0 (barriers " +
            each([rows[0]["barrier"] for rows in confirm_rows], 1, False) +
            f" points) and stable from 2 epochs on ({number(min(later))}-"
            f"{number(max(later))})"),
      Claim(f"At 80% pruned `lt` ends {below(confirm.minus('lt', 'rewind', 1))}"
            f" points below `rewind` ({each(confirm.minus('lt', 'rewind', 1))} "
            "in the three seeds)"),
      Claim("At 90% pruned the two are not ordered "
            f"({each(confirm.minus('lt', 'rewind', 2))} points; `rewind` fell "
            f"to {number(min(rewind_90), 1)}% in seed "
            f"{rewind_90.index(min(rewind_90))})"),
      Claim(f"at 96% pruned both fail ({number(min(failed), 1)}-"
            f"{number(max(failed), 1)}%"),
      Claim(f"its loss stayed finite (about {collapsed['train_loss']:.0f}"),
      Claim("reduction (the KL divided by the 10 classes) trains, and was "
            "chosen",
            max(selection, key=lambda name: [
                r for r in selection[name] if r["recipe"] == "kd"][0][
                    "validation_accuracy"]) == "T5_mean"),
      Claim(f"dense barriers are {number(c_rows[2][0]['barrier'])} points at "
            f"k = 0 and {number(c_rows[2][1]['barrier'])} at 2 epochs. It was "
            "rerun in a fresh workdir with one later candidate, and is stable "
            "at 8 epochs (320 iterations, barrier "
            f"{number(c_rows[2][2]['barrier'])}), which `auto` chose",
            [r["stable"] for r in c_rows[2]] == [False, False, True] and
            chosen_barriers(folder, "study_c")[2] == c_rows[2][2]["barrier"]),
      Claim(f"This {100 * collapsed['test_accuracy']:.0f}% student"),
      Claim("every seed is again unstable at k = 0 (" +
            each([rows[0]["barrier"] for rows in c_rows], 2, False) +
            " points) and stable later (" + ", ".join(
                number(b) for b in chosen_barriers(folder, "study_c")) + ")"),
      Claim(f"at 80% pruned `lt - rewind` is {each(c.minus('lt', 'rewind', 1))}"
            f" in the three seeds ({pair('lt', 'rewind', 1)})"),
      Claim("At 90% pruned `lt` is below `rewind` in every seed (" +
            ", ".join(number(d, 1) for d in c.minus("lt", "rewind", 2)) +
            f"; {pair('lt', 'rewind', 2)})",
            prose_claims.all_below(c.minus("lt", "rewind", 2))),
      Claim("`kd` is the weakest recipe but random reinitialisation: "
            f"{below(c.minus('kd', 'rewind', 1))} points below `rewind` at 80% "
            f"pruned and {below(c.minus('kd', 'rewind', 2))} at 90%, below it "
            f"in every seed ({number(max(kd_rewind), 1)} to "
            f"{number(min(kd_rewind), 1)}), and below `lt` too "
            f"({pair('kd', 'lt', 1)}, {pair('kd', 'lt', 2)}), in every seed",
            prose_claims.all_below(kd_rewind) and
            all(prose_claims.all_below(c.minus("kd", "lt", level))
                for level in (1, 2)) and
            all(sorted(c.recipes(), key=lambda r, l=level: mean(
                c.accuracy(r, l)))[:2] == ["random_reinit", "kd"]
                for level in (1, 2))),
      Claim(f"`kd_rewind - rewind` is {pair('kd_rewind', 'rewind', 1)} at 80% "
            f"({prose_claims.listed(c.minus('kd_rewind', 'rewind', 1))}) and "
            f"{pair('kd_rewind', 'rewind', 2)} at 90% "
            f"({prose_claims.listed(c.minus('kd_rewind', 'rewind', 2))})"),
      Claim("With learning-rate rewinding the differences "
            f"({pair('kd_lr_rewind', 'lr_rewind', 1)}, "
            f"{pair('kd_lr_rewind', 'lr_rewind', 2)}) are within their spread",
            all(prose_claims.within_spread(
                c.minus("kd_lr_rewind", "lr_rewind", level))
                for level in (1, 2))),
      Claim(f"`random_reinit` is {below(c.minus('random_reinit', 'lt', 1))} and"
            f" {below(c.minus('random_reinit', 'lt', 2))} points below `lt`"),
      Claim("No KD row is flagged",
            not any(r.get("warning") for rows in c.runs for r in rows
                    if r["recipe"] in kd_recipes)),
  ]
