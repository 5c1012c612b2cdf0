"""Calibration: INT8 static quantization behind an accuracy gate, and temperature-scaled confidences.

onnxruntime.quantization loads in `edgedigits.calibration.quantize`; `temperature` is numpy only.
"""
