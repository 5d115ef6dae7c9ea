"""Segmenting photographs with trained weights: resolution policy, single images, batches."""

from vesselseg.segmentation.batch import ArraySource, BatchReport, ImageSummary, collect_inputs, segment_files
from vesselseg.segmentation.outputs import output_paths, overlay
from vesselseg.segmentation.segmenter import SegmentResult, Segmenter

__all__ = ["ArraySource", "BatchReport", "ImageSummary", "SegmentResult", "Segmenter", "collect_inputs", "output_paths", "overlay", "segment_files"]
