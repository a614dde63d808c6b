"""The search: a graph of stages, walked by a coordinator.

`lottery` is the coordinator (check, walk the graph on an executor, record);
`graph` the stages and what each reads from which; `stages` runs one stage;
`level_masks` finds a stage's masks; `checks` refuses a search that cannot run.
"""
