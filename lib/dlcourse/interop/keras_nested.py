"""Models used as layers, across: a nested model becomes a nested Keras model, and back.

Keras, like us, lets a whole model be a layer of another. So the inner model
is converted on its own (``to_keras``/``from_keras``, with its weights) and
then called where ours is called; its weights stay under its name in both.
"""

__all__ = ["model_from_keras", "model_to_keras"]


def model_to_keras(stack, model):
    """Append the Keras copy of ``model`` (a Sequential or Functional used as a layer)."""
    from dlcourse.interop.keras import to_keras  # the whole conversion: imported when used

    stack.channels_first(model.name)  # the inner Keras model reads our layout, as ours does
    stack.add(to_keras(model))  # built, weights in: nothing to copy later
    stack.layout = "nchw" if len(model.output_shape or ()) == 4 else "flat"


def model_from_keras(keras_model):
    """``(our model, its weights)`` for a Keras model used as a layer of another."""
    from dlcourse.interop.keras import from_keras

    model = from_keras(keras_model)
    return model, model.get_weights()
