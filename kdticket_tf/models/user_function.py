"""A user's own model function, named `package.module:function`.

`ModelConfig.name='my_models:small_mlp'` (the trainer's model flag) builds
the model that

    def small_mlp(input_shape: tuple[int, ...], num_classes: int) -> keras.Model

returns in the module `my_models`: an uncompiled Sequential or functional
Keras model (tf_keras, or Keras 3 where the search accepts it) with one input
of `input_shape` (without the batch axis) and one output of logits
`[batch, num_classes]`, no final softmax. The function is called positionally,
`small_mlp(input_shape, num_classes)`, once per stage, and must build a fresh
model on each call from Keras's global seed (the search sets it), so that every
stage and every worker process builds the same θ0. `ModelConfig.depth`,
`block` and `width` are not passed to it.

This is the one dynamic import of the package (STYLE.md rule 5): the module is
imported from the Python path (the folder the command runs in, `PYTHONPATH`),
once per process, and what the function returns goes through the same checks
as any other model. Worker processes (local workers, Ray tasks) import it the
same way from the name their workdir's `config.json` records: a local worker
starts with its coordinator's Python path, a Ray node needs the module on its
own.

Every way the name can fail (not `module:function`, a module that cannot be
imported, no such function, a function that raises or returns something other
than a model) is a `ValueError` of one sentence that names the value and what
is accepted, raised before any training.
"""

import importlib
import inspect
import re
import weakref

_LABEL = "ModelConfig.name"
_IDENTIFIER = r"[A-Za-z_]\w*"
_PATH = re.compile(rf"({_IDENTIFIER}(?:\.{_IDENTIFIER})*):({_IDENTIFIER})")
ACCEPTED = ("give package.module:function for a function taking (input_shape, "
            "num_classes) and returning a Keras model")

_LOADED = {}  # name -> the function, imported once per process
_LAST_BUILT = {}  # name -> a weak reference to the model it last returned


def is_function_name(name):
  """True if `name` names a user's function (`module:function`), not a
  registered architecture."""
  return ":" in name


def _wrong(name, problem, fix=ACCEPTED):
  return ValueError(f"{_LABEL}={name!r} {problem}; {fix}.")


def _first_line(error):
  text = str(error).strip().splitlines()
  detail = text[0] if text else ""
  if len(detail) > 200:
    detail = detail[:197] + "..."
  return f"{type(error).__name__} ({detail})" if detail else type(
      error).__name__


def _import(name, module_name):
  """Imports `module_name`, or says in one sentence why it cannot be."""
  try:
    return importlib.import_module(module_name)
  except ModuleNotFoundError as error:
    missing = error.name or ""
    if module_name == missing or module_name.startswith(missing + "."):
      file_name = module_name.replace(".", "/") + ".py"
      raise _wrong(
          name, f"names module {module_name}, which is not on the Python "
          "path", f"run from the folder that holds {file_name}, or add that "
          "folder to PYTHONPATH") from error
    raise _wrong(name, f"names module {module_name}, whose import raised "
                 f"{_first_line(error)}", "install what it imports, or "
                 "fix the module") from error
  except Exception as error:  # pylint: disable=broad-except
    raise _wrong(name, f"names module {module_name}, whose import raised "
                 f"{_first_line(error)}", "fix the module so that it "
                 "imports") from error


def _defined_functions(module):
  """The public functions `module` defines itself, for the message."""
  return sorted(
      key for key, value in vars(module).items()
      if inspect.isfunction(value) and not key.startswith("_") and
      value.__module__ == module.__name__)


def load(name):
  """Returns the function `name` (`module:function`) names, imported once.

  Args:
    name: `package.module:function`.

  Returns:
    The function.

  Raises:
    ValueError: for a name that is not `module:function`, a module that
      cannot be imported, no such function in it, or a function that cannot
      be called as `function(input_shape, num_classes)`.
  """
  if name in _LOADED:
    return _LOADED[name]
  match = _PATH.fullmatch(name)
  if not match:
    raise _wrong(name, "is not a module:function name (a dotted module "
                 "name, a colon, a function name)")
  module_name, function_name = match.groups()
  module = _import(name, module_name)
  if not hasattr(module, function_name):
    defined = _defined_functions(module)
    listed = (f" (it defines {', '.join(defined)})" if defined
              else " (it defines no function)")
    raise _wrong(name, f"names no function {function_name} in module "
                 f"{module_name}{listed}")
  function = getattr(module, function_name)
  if isinstance(function, type) or not callable(function):
    raise _wrong(name, f"names {function_name} in module {module_name}, "
                 f"{_describe(function)}, not a function")
  try:
    signature = inspect.signature(function)
  except (TypeError, ValueError):  # no signature to read: call it and see
    signature = None
  if signature is not None:
    try:
      signature.bind((1,), 2)
    except TypeError:
      raise _wrong(
          name, f"names {function_name}{signature}, which cannot be called "
          f"as {function_name}(input_shape, num_classes)", "give it those "
          "two parameters and return a Keras model") from None
  _LOADED[name] = function
  return function


def _describe(value):
  if value is None:
    return "None"
  if isinstance(value, type):
    return f"the class {value.__name__}"
  kind = type(value).__name__
  return f"{'an' if kind[0].lower() in 'aeiou' else 'a'} {kind}"


def _is_model(value):
  """True for a built Keras model, tf_keras or Keras 3 (duck-typed: the
  search's model checks say which kinds it trains)."""
  return (not isinstance(value, type) and hasattr(value, "layers") and
          hasattr(value, "fit"))


def build(name, input_shape, num_classes):
  """Calls the function `name` names and returns the model it builds.

  Args:
    name: `package.module:function`.
    input_shape: The inputs' shape without the batch axis.
    num_classes: The number of classes (the logits' width).

  Returns:
    The model, to be checked by the search like any other.

  Raises:
    ValueError: for a bad `name` (see `load`), a function that raises, or one
      that returns something other than a Keras model.
  """
  function = load(name)
  input_shape, num_classes = tuple(input_shape), int(num_classes)
  call = f"{name.split(':')[1]}({input_shape}, {num_classes})"
  try:
    model = function(input_shape, num_classes)
  except Exception as error:  # pylint: disable=broad-except
    raise _wrong(name, f"raised {_first_line(error)} when called as {call}",
                 "fix the function so that it returns an uncompiled Keras "
                 "model of logits") from error
  if not _is_model(model):
    raise _wrong(name, f"returned {_describe(model)}, not a Keras model, when "
                 f"called as {call}", "return an uncompiled Sequential or "
                 "functional model that outputs logits [batch, num_classes]")
  last = _LAST_BUILT.get(name)
  if last is not None and last() is model:
    raise _wrong(name, "returned the same model object on two calls",
                 "build the model inside the function, a fresh one on each "
                 "call (every stage trains its own)")
  try:
    _LAST_BUILT[name] = weakref.ref(model)
  except TypeError:  # a model that takes no weak reference: not checked
    _LAST_BUILT.pop(name, None)
  return model


def builder(name):
  """Returns a registry-style builder `fn(config, input_shape, num_classes)`
  of the function `name` names, loading it now (so a bad name fails before
  any data is read)."""
  load(name)

  def build_model(config, input_shape, num_classes):
    del config  # depth, block and width are the registry's models' settings
    return build(name, input_shape, num_classes)

  return build_model
