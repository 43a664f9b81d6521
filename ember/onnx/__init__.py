"""ember.onnx: export a model to ONNX (torch.onnx's tracing exporter).

    ember.onnx.export(model, (x,), "model.onnx", input_names=["x"],
                      dynamic_axes={"x": {0: "batch"}})

The model runs on the example inputs with a recorder on (``_tracer.py``);
each Ember op it ran becomes ONNX nodes (``_converters.py``, one converter
per op); ``_export.py`` assembles the graph with the ``onnx`` package.
``onnx`` is imported when ``export`` runs, never by ``import ember``.
"""
from . import errors
from ._export import export, TrainingMode
from ._tracer import is_tracing as is_in_onnx_export
from .errors import OnnxExporterError, UnsupportedOperatorError

__all__ = ["export", "is_in_onnx_export", "errors", "OnnxExporterError",
           "UnsupportedOperatorError", "TrainingMode"]
