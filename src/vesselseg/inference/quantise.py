"""int8 quantisation of an ONNX export (ONNX Runtime's static QDQ quantisation).

Weights are int8 per output channel, activations uint8 with ranges calibrated on real network
inputs (:func:`vesselseg.segmentation.calibration.calibration_inputs`: photographs prepared
exactly as ``segment`` prepares them), so the ranges are the ones the network meets. The model card travels
into the quantised file with ``"quantisation"`` added, so ``--weights file.int8.onnx`` runs it.

Measured on the shipped DRIVE model (``benchmarks/quantize_onnx.py``, docs/throughput.md): ONNX
Runtime's *dynamic* quantisation (int8 weights, activations at run time through ConvInteger) was
4x slower than fp32 here, so only the static form is offered.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import numpy as np

from vesselseg.inference.onnx import CARD_KEY
from vesselseg.io.files import atomic_write_bytes


def quantise_static(onnx_path: str | Path, out: str | Path, inputs: list[np.ndarray],
                    calibration: str = "") -> Path:
    """Write the int8 (QDQ, per-channel) version of ``onnx_path`` to ``out``, calibrated on ``inputs``.

    ``calibration`` describes the calibration set for the card (e.g. ``"DRIVE training, 20
    photographs"``). Written atomically.
    """
    import onnx
    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )
    from onnxruntime.quantization.shape_inference import quant_pre_process

    onnx_path, out = Path(onnx_path), Path(out)
    source = onnx.load(str(onnx_path))
    name = source.graph.input[0].name
    card = json.loads({p.key: p.value for p in source.metadata_props}[CARD_KEY])

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.items = iter(inputs)

        def get_next(self):
            x = next(self.items, None)
            return None if x is None else {name: x}

    with tempfile.TemporaryDirectory() as tmp:
        pre, quant = Path(tmp) / "pre.onnx", Path(tmp) / "int8.onnx"
        quant_pre_process(str(onnx_path), str(pre), skip_symbolic_shape=True)
        quantize_static(str(pre), str(quant), Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                        # MinMax keeps only each tensor's reduced min and max per input (small)
                        calibrate_method=CalibrationMethod.MinMax)
        proto = onnx.load(str(quant))
    card["quantisation"] = {"method": "onnxruntime static QDQ", "weights": "int8 per channel",
                            "activations": "uint8, MinMax calibration", "calibration": calibration,
                            "calibration_inputs": len(inputs)}
    return write_with_card(proto, card, out)


def card_of(path: str | Path) -> dict:
    """The vesselseg model card embedded in an ONNX file."""
    import onnx

    return json.loads({p.key: p.value for p in onnx.load(str(path)).metadata_props}[CARD_KEY])


def write_with_card(proto, card: dict, out: str | Path) -> Path:
    """Write the ONNX ``proto`` to ``out`` atomically with ``card`` as its only metadata (ONNX
    Runtime's quantisers drop the source file's metadata)."""
    del proto.metadata_props[:]
    entry = proto.metadata_props.add()
    entry.key, entry.value = CARD_KEY, json.dumps(card)
    proto.producer_name = "vesselseg"
    return atomic_write_bytes(Path(out), proto.SerializeToString())
