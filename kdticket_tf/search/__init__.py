"""The search: a graph of stages, walked by a coordinator.

`lottery` is the coordinator (check, walk the graph on an executor, record);
`graph` the stages and what each reads from which; `kinds` the registry of
stage kinds (`dense_stage`, `ticket_stage`, the instability analysis's);
`lineage` where a ticket's start weights, masks and teacher come from;
`level_masks` a ticket's masks; `stages` the runner every stage is given;
`checks` and `data_checks` refuse, before any training, a search that cannot
run; `worker` starts a worker process.
"""
