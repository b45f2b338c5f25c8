"""Torch model architectures and their ONNX export signature (hub only)."""
