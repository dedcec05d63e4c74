"""Export: models to ONNX (``export_onnx``), each file checked against the model it came
from."""
