"""Sweeps: many runs of one base scenario over a grid of dotted keys and seeds, on a Dask cluster.

A sweep file (`spec.py`) names a base scenario, fixed overrides, axes over dotted keys
(`axes.py`), derived keys (`expression.py`) and a number of seeds; `spec.expand` turns it
into validated `Point`s (`point.py`). `execute.py` runs them as Dask tasks (an embedded
`LocalCluster` by default, or a scheduler's address), each point writing its own results
folder atomically and skipping a point already finished with the same scenario;
`table.py` gathers one row per point into `sweep.csv` and the statistics over seeds,
`report.py` draws the figures from that table, and `command.py` is `wafersim sweep`.
"""
