"""Pruning: TF-MOT's wrapper extended to fixed masks, and the masks themselves.

`wrapper` holds a mask fixed through training (pruned weights exactly zero);
`masks` ranks weights by magnitude; `structures` says what a mask may look like
(unstructured, blocks, N:M); `channel_groups` finds which channels of a
functional model are pruned together. Only `wrapper` imports TensorFlow.
"""
