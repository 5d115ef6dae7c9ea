"""The names every layer and the command line share (one place, no imports: the bottom layer).

A command-line ``click.Choice``, a config check and a library check all read these tuples, so a
new mode or dataset is added once.
"""

#: Inference modes: one pass over the whole image, or the paper's overlapping sliding windows.
MODES = ("whole", "sliding")
#: A dataset's splits.
SPLITS = ("train", "test")
#: The paper's three benchmarks (the reproduction tables).
BENCHMARKS = ("drive", "stare", "chase")
#: Every labelled colour-fundus set the project reads (``VESSELSEG_DATA``): benchmarks + AVRDB.
LABELLED_DATASETS = (*BENCHMARKS, "avrdb")
#: What ``evaluate --dataset`` accepts: a labelled set's test split, or a folder of image/label pairs.
EVAL_DATASETS = (*LABELLED_DATASETS, "folder")
#: Pixels that are scored: inside the field of view (the protocol) or the whole frame.
REGIONS = ("fov", "image")
#: Z-score statistics: from the training dataset (the model card's at inference), this image's, none.
STANDARDISE = ("dataset", "image", "none")
#: ``segment --standardise``: as the model was trained (its card), or one of the two above.
SEGMENT_STANDARDISE = ("auto", "dataset", "image")
#: Pooling context at inference of modules that pool the whole map in training (see the predictor).
POOLING_CONTEXTS = ("patch", "global")
#: Runtimes that run a model: PyTorch, ONNX Runtime on the fp32 export, or on its int8 version
#: (static quantisation; shipped beside the weights or made with ``vesselseg export --int8``).
BACKENDS = ("torch", "onnxruntime", "onnxruntime-int8")
#: What ``segment`` writes per photograph (``<stem>_<kind>.png``; ``--outputs`` picks a subset).
SEGMENT_OUTPUTS = ("vessels", "prob", "overlay")
#: zlib level of the PNGs this tool writes (0-9). Level 1 against Pillow's default 6, DRIVE test
#: image 01 (docs/throughput.md, "Where a batch's time goes"): the 16-bit probability map encodes
#: 3-4x faster and the overlay 5-6x faster, for files 8-13 % larger; above level 3 the files
#: shrink by a few % more at 2-5x the time. PNG is lossless at every level: the pixels are identical.
PNG_COMPRESSION = 1
