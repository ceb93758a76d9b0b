"""Moving a dlcourse model to the tools people deploy with: Keras 3 and ONNX.

::

    from dlcourse.interop import export_onnx, from_keras, to_keras

    keras_model = to_keras(model)          # a real keras.Sequential, same weights
    ours = from_keras(keras_model)         # Dense/activation stacks, back again
    export_onnx(model, "model.onnx")       # for onnxruntime, TensorRT, a browser...

Keras and ONNX are imported when one of these functions runs, never when this
package is imported. A layer that has no counterpart (a layer you wrote
yourself, say) stops the conversion with an ``UnsupportedLayerError`` that
names it.
"""

from dlcourse.interop.errors import UnsupportedLayerError
from dlcourse.interop.keras import from_keras, to_keras
from dlcourse.interop.onnx_export import export_onnx

__all__ = ["UnsupportedLayerError", "export_onnx", "from_keras", "to_keras"]
