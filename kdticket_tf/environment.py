"""Settings made in the environment before TensorFlow is first imported.

* `TF_USE_LEGACY_KERAS=1`: TF-MOT 0.8 works only with Keras 2 (`tf_keras`);
  when TensorFlow has not been imported yet, `tf.keras` becomes `tf_keras` too.
  The package itself imports `tf_keras` by name, so it does not depend on what
  `tf.keras` is (TensorFlow imported first gives Keras 3 there).
* `TF_CPP_MIN_LOG_LEVEL=2` unless the user set it: TensorFlow's C++ INFO and
  WARNING lines stay out of a library user's output. `TF_LOG_LEVEL_GIVEN`
  records whether the user chose a level and `USER_LOG_LEVEL` which (None when
  they did not); a level set here, and inherited by worker processes, does not
  count as theirs. Only 0 asks for TensorFlow's logs (`logs.py`): TensorFlow
  2.21 no longer honours the variable for its start-up lines, so 1 to 3 get
  the default, quiet output.
"""

import os

# A level this package set (and its worker processes inherit) is not the user's.
_SET_HERE = "KDTICKET_TF_SET_LOG_LEVEL"
TF_LOG_LEVEL_GIVEN = ("TF_CPP_MIN_LOG_LEVEL" in os.environ and
                      _SET_HERE not in os.environ)
os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
if "TF_CPP_MIN_LOG_LEVEL" not in os.environ:
  os.environ["TF_CPP_MIN_LOG_LEVEL"] = "2"
  os.environ[_SET_HERE] = "1"
USER_LOG_LEVEL = (os.environ["TF_CPP_MIN_LOG_LEVEL"].strip()
                  if TF_LOG_LEVEL_GIVEN else None)
