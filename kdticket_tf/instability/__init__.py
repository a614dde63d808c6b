"""The instability analysis (linear mode connectivity), a stage kind of its own.

`interpolation` measures the error along the line between two networks;
`graph` places the analysis's stages in a search's graph; `stage` trains the two
copies from θk and measures their path; `report` writes its tables and plot.
"""
