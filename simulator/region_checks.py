"""What a scenario on layer regions must satisfy beyond its schema: a per-PE schedule, and regions that fit the layers.

A placement is on regions when it is `balanced` or lists [row, col, R, C] per layer
(`uses_regions`). Each problem is (key, text) for the ConfigError.
"""

from __future__ import annotations

from .layers import network_shapes
from .regions import overlap_problems, regions_from_list

REGION_ALGORITHMS = ("sgd", "cp", "mbgd")  # the schedules a block runs as a LayerProgram does


def uses_regions(placement) -> bool:
    """Does the placement put layers on regions (balanced, or [row, col, R, C] per layer)?"""
    return placement == "balanced" or (isinstance(placement, list) and bool(placement) and len(placement[0]) == 4)


def reporting_block(rows: int, cols: int) -> tuple[int, int]:
    """The block of an R x C region that stands for its layer in results: its first row's end."""
    return 0, cols - 1


SPLITS = {"dense": "rows or columns", "conv": "filters (a convolution splits by output channels, C = 1)",
          "conv+pool": "filters (a convolution splits by output channels, C = 1)",
          "pool": "weights (a pooling layer takes one PE)"}


def filters_of(shape) -> int:
    """A convolution's (or a conv and pool's) output channels."""
    return shape.filters if shape.kind == "conv" else shape.conv.filters


def max_blocks(shape) -> tuple[int, int]:
    """The most (R, C) a layer splits into: a dense layer's rows and columns; a convolution's filters
    and one column (each block reads the whole input); a pooling layer, one PE."""
    if shape.kind == "dense":
        return shape.n_out, shape.n_in
    if shape.kind in ("conv", "conv+pool"):
        return filters_of(shape), 1
    return 1, 1


def region_problems(scenario) -> list[tuple[str, str]]:
    """Why the scenario cannot run on its regions, as (key, text) pairs; empty if it can."""
    t = scenario.training
    if t.algorithm not in REGION_ALGORITHMS:
        return [("placement", f"layer regions run {', '.join(REGION_ALGORITHMS)}; algorithm {t.algorithm} needs one PE "
                              "per layer: use placement snake (or row)")]
    options = t.options
    if t.algorithm == "cp" and (options.reverse_checkpoint is not None or options.spike_compensation
                                or options.weight_prediction):
        return [("placement", "layer regions run plain cp; reverse_checkpoint, spike_compensation and "
                              "weight_prediction need one PE per layer: use placement snake (or row)")]
    shapes = network_shapes(scenario.model)
    if scenario.placement == "balanced":
        return []
    if scenario.region_pes is not None:
        return [("region_pes", "region_pes bounds the PEs of placement: balanced; an explicit list of regions "
                               "gives their sizes itself: remove region_pes")]
    entries = scenario.placement
    if any(len(entry) != 4 for entry in entries):
        return [("placement", "a list of regions gives [row, col, R, C] for every layer; do not mix it with "
                              "[row, col] pairs")]
    if len(entries) != len(shapes):
        return [("placement", f"lists {len(entries)} regions but the model has {len(shapes)} layers; give one "
                              "[row, col, R, C] per layer")]
    try:
        regions = regions_from_list(entries)
    except ValueError as err:
        return [("placement", str(err))]
    problems = []
    for k, (shape, region) in enumerate(zip(shapes, regions)):
        where = f"placement[{k}]"
        most_rows, most_cols = max_blocks(shape)
        if region.rows > most_rows or region.cols > most_cols:
            problems.append((where, f"a {region.rows}x{region.cols} region splits layer {k + 1} ({shape.describe()}) "
                                    f"into more blocks than it has {SPLITS[shape.kind]}; use R <= {most_rows} and "
                                    f"C <= {most_cols}"))
        if shape.top and region.rows != 1:
            problems.append((where, f"the top layer's region has {region.rows} rows; give it one (R = 1): its "
                                    "softmax reads every logit on one PE"))
    mesh = scenario.hardware.mesh
    problems += [("placement", text) for text in overlap_problems(regions, mesh.rows, mesh.cols)]
    return problems
