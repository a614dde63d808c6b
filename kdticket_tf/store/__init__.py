"""The store: where a search keeps what it makes, and how it writes it safely.

`layout` names every file and folder of a workdir (each name written once);
`artifacts` writes JSON and text atomically; `weights` saves and loads weights
files by layer name; `workdir` holds the run's lock and moves old runs aside.
"""
