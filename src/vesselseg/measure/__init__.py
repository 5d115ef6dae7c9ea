"""Vessel measurements from a mask: density, length, branching, calibre, tortuosity, fractal dimension.

    from vesselseg.measure import measure_mask
    m = measure_mask(mask, fov, pixel_size_um=None)
    m.summary      # one row: density, length_px, segments, branch_points, width_*_px, ...
    m.segments     # per segment: length, chord, arc/chord, curvature, mean width
"""

from vesselseg.measure.fractal import fractal_dimension
from vesselseg.measure.graph import vessel_graph
from vesselseg.measure.measurements import COLUMNS, Measurements, measure_mask
from vesselseg.measure.outputs import width_image, write_json, write_table

__all__ = ["COLUMNS", "Measurements", "fractal_dimension", "measure_mask", "vessel_graph", "width_image",
           "write_json", "write_table"]
