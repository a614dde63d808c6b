"""Reports: result rows and tables, TensorBoard summaries, plots, CPU speed.

`results` reads and writes the rows and their tables; `summaries` the
TensorBoard runs and HParams; `plots` the accuracy-against-sparsity plot;
`cpu_speed` the probe that benchmarks time the CPU's speed with.
"""
