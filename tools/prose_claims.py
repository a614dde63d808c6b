"""The numbers a study doc's prose states, rendered from its rows and checked.

A doc's tables are written from its committed rows (`<!-- table:NAME -->`
regions); its prose cannot be, but each number it states can be computed
from the same rows. A tool lists its doc's claims as `Claim`s: the sentence
fragment the prose must hold, with its numbers rendered from the rows, and
what else must be true of the rows for the sentence to be right (a
difference within its spread, the same sign in every seed). `unmet` returns
the claims a doc's text no longer makes or the rows no longer support; the
tools' `--check` fails on them, so a prose number cannot drift from its rows
unseen.

Numbers are rendered as the prose writes them: differences in points with
U+2212 for a minus sign, `mean ± sample std` over seeds.
"""

import collections
import re
import sys

MINUS = "\u2212"

# `text`: a fragment of the doc's prose (whitespace is compared loosely);
# `holds`: whether the rows support what the words say besides the numbers.
Claim = collections.namedtuple("Claim", ["text", "holds"], defaults=[True])


def _normal(text):
  return re.sub(r"\s+", " ", text).strip()


def unmet(text, claims):
  """Returns the messages of the claims that `text` or the rows do not meet.

  Args:
    text: The doc.
    claims: `Claim`s.

  Returns:
    One sentence per claim whose fragment the doc does not hold (with the
    fragment as the rows give it), or whose rows do not support it.
  """
  found = _normal(text)
  messages = []
  for claim in claims:
    fragment = _normal(claim.text)
    if fragment not in found:
      messages.append(f"the prose does not say, as the rows give it: "
                      f"\"{fragment}\"")
    elif not claim.holds:
      messages.append(f"the rows no longer support: \"{fragment}\"")
  return messages


def number(value, digits=2, signed=False):
  """`value` with `digits` decimals; U+2212 for a minus, `+` when `signed`."""
  text = f"{value:.{digits}f}"
  if text.startswith("-"):
    return MINUS + text[1:]
  return "+" + text if signed else text


def mean(values):
  return sum(values) / len(values)


def std(values):
  """The sample standard deviation (0 for one value)."""
  if len(values) < 2:
    return 0.0
  centre = mean(values)
  return (sum((v - centre)**2 for v in values) / (len(values) - 1))**0.5


def spread(values, digits=2, signed=True):
  """`mean ± std` of `values`, e.g. `−1.23 ± 2.99`."""
  return (f"{number(mean(values), digits, signed)} ± "
          f"{number(std(values), digits)}")


def below(values, digits=2):
  """`mean ± std` of values said to be below zero, e.g. `0.51 ± 0.34`.

  The mean is negated: a mean that is not below zero renders with a minus
  sign, which the prose ("0.51 ± 0.34 points below") does not hold.
  """
  return f"{number(-mean(values), digits)} ± {number(std(values), digits)}"


def each(values, digits=1, signed=True):
  """The values one by one, e.g. `−2.5, −4.9 and −4.1`."""
  texts = [number(v, digits, signed) for v in values]
  return ", ".join(texts[:-1]) + " and " + texts[-1] if len(texts) > 1 else (
      texts[0])


def listed(values, digits=1, signed=True):
  """The values one by one, comma separated, e.g. `+0.36, −0.51, −0.44`."""
  return ", ".join(number(v, digits, signed) for v in values)


def within_spread(values):
  """Whether the mean's size is below the sample standard deviation."""
  return abs(mean(values)) < std(values)


def all_below(values):
  return all(v < 0 for v in values)


def all_above(values):
  return all(v > 0 for v in values)


def seeds_below(values):
  """`all three seeds`, or `K of N seeds`, of the values below zero."""
  count = sum(v < 0 for v in values)
  if count == len(values) == 3:
    return "all three seeds"
  return f"{count} of {len(values)} seeds"


def seeds_above(values):
  """`all three seeds`, or `K of N seeds`, of the values above zero."""
  return seeds_below([-v for v in values])


def check_or_write(tool, doc, text, new, claims, check, write, done):
  """The end of a study report tool: check its doc, or write it.

  Args:
    tool: The tool's name (`channel_report`): its messages start with it.
    doc: The doc's path.
    text: The doc as it is.
    new: The doc with its marked tables as the rows give them.
    claims: A function returning the doc's `Claim`s; an error computing them
      is one unmet claim.
    check: Only report: exit 1 when the tables or the prose are stale.
    write: Called after the doc is written (the plots).
    done: The line printed once the doc is written.

  Returns:
    The exit status.
  """
  try:
    messages = unmet(text, claims())
  except (KeyError, IndexError, ValueError, ZeroDivisionError,
          StopIteration, TypeError) as error:
    messages = [
        f"the rows do not give the figures its prose states ({error!r})"]
  if check:
    if new != text:
      print(f"{tool}: {doc} is out of date; run python tools/{tool}.py",
            file=sys.stderr)
    for message in messages:
      print(f"{tool}: {doc}: {message}", file=sys.stderr)
    return 1 if new != text or messages else 0
  with open(doc, "w", encoding="utf-8") as stream:
    stream.write(new)
  write()
  print(done)
  for message in messages:
    print(f"{tool}: {doc}: edit the prose, {message}", file=sys.stderr)
  return 1 if messages else 0
