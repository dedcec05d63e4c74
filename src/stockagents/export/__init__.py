"""Export: models to ONNX (``export_onnx``) and GGUF (``export_gguf``), each file checked
against the model it came from."""
