"""Keras 3 at the boundary: a user's Keras 3 model in, tickets back as `.keras`.

The engine is tf_keras, the one Keras TF-MOT wraps. A Keras 3 Sequential or
functional model that a user's `model_fn` returns is rebuilt as tf_keras, layer
by layer, from an allowlist of layer types and of their config fields
(`allowlist`), its graph followed node by node and its weights copied
(`translate`); a layer or a field outside the allowlist is refused, never
dropped. A finished ticket goes back into a fresh build of the user's model and
out as a `.keras` file that Keras 3 loads (`keras_file`); a compacted channel
ticket goes into the user's model rebuilt at its narrower widths (`narrow`).
`boundary` is what the search calls: it imports Keras 3 only once a Keras 3
model is seen.
"""
