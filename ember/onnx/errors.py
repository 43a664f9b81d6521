"""The ONNX exporter's exceptions (torch.onnx.errors' names)."""

__all__ = ["OnnxExporterError", "UnsupportedOperatorError"]


class OnnxExporterError(RuntimeError):
    """The model could not be exported (a trace the exporter cannot express)."""


class UnsupportedOperatorError(OnnxExporterError):
    """The traced model used an op that has no ONNX converter."""

    def __init__(self, name, version, supported_version=None):
        if supported_version is not None:
            msg = (f"Exporting the operator '{name}' to ONNX opset version {version} is not "
                   f"supported. Support for this operator was added in version "
                   f"{supported_version}, try exporting with this version.")
        else:
            msg = (f"Exporting the operator '{name}' to ONNX opset version {version} is not "
                   f"supported by Ember's exporter (ember/onnx/_converters.py lists the ops "
                   f"it converts).")
        super().__init__(msg)
