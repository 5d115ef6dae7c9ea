"""Exporting trained weights for other runtimes (ONNX) and running them (ONNX Runtime)."""

from vesselseg.export.onnx import OnnxModel, export_onnx, have_onnxruntime, onnx_for_weights

__all__ = ["OnnxModel", "export_onnx", "have_onnxruntime", "onnx_for_weights"]
