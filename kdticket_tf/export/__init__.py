"""Exports: tickets as stripped SavedModels (TF Serving layout) and TFLite files.

`saved_model` writes a servable ticket and its `ticket.json`; `tflite` converts
and reads TFLite flatbuffers; `serving` is the client side (requests, warm-up);
`compaction` rebuilds a channel ticket as the narrower network it computes, and
`flops` counts a model's parameters and multiply-adds.
"""
