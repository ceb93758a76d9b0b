"""The errors a beginner meets in ``dlcourse.nn``, each with the fix in its message."""

__all__ = [
    "MissingBackwardError",
    "NonFiniteLossError",
    "NotBuiltError",
    "NotCompiledError",
    "bad_gradient_error",
    "missing_backward_error",
    "missing_loss_gradient_error",
]


class NotCompiledError(RuntimeError):
    """``fit``/``evaluate`` before ``compile``."""


class NotBuiltError(RuntimeError):
    """Asking for weights or a summary before the model has seen an input shape."""


class MissingBackwardError(NotImplementedError):
    """A layer (or loss) without hand-written derivatives, on the ``manual`` backend."""


class NonFiniteLossError(FloatingPointError):
    """The loss became NaN or infinite; training stopped.

    Attributes: ``epoch`` and ``batch`` (0-based) where it happened, ``layer``
    (the name of the first layer whose output was not finite, or None), and
    ``history`` (what was recorded up to the last complete epoch).
    """

    def __init__(self, message, epoch=None, batch=None, layer=None, history=None):
        super().__init__(message)
        self.epoch, self.batch, self.layer, self.history = epoch, batch, layer, history


def not_compiled_error(action):
    return NotCompiledError(
        f"{action} needs a compiled model: call model.compile(optimizer='adam', "
        "loss='sparse_categorical_crossentropy', metrics=['accuracy']) first "
        "(pick the loss that fits your labels)."
    )


def _layer_label(layer):
    return f"layer {layer.name!r} ({type(layer).__name__})"


def missing_backward_error(layer):
    return MissingBackwardError(
        f"{_layer_label(layer)} has call() but no backward(), and the 'manual' backend "
        "computes every derivative by hand. Either implement backward(self, dout): return "
        "dx and put each weight's gradient in self.grads[name]; or switch to a backend "
        "that differentiates call() for you, e.g. dlcourse.set_backend('torch') before "
        "building the model."
    )


def missing_loss_gradient_error(loss):
    return MissingBackwardError(
        f"the loss {type(loss).__name__} has no value_and_grad(y_true, y_pred), which the "
        "'manual' backend needs: return the loss and its gradient with respect to y_pred, "
        "or switch to a backend with autodiff, e.g. dlcourse.set_backend('torch')."
    )


def bad_gradient_error(layer, name, weight, grad):
    expected = tuple(weight.shape)
    if grad is None:
        got = "nothing"
        hint = f"set self.grads[{name!r}] = ... in backward(), an array of shape {expected}"
    else:
        got = f"shape {tuple(grad.shape)}"
        hint = (
            f"the gradient of a weight has the weight's shape {expected}; a transpose "
            "or a missing sum over the batch are the usual culprits"
        )
    return ValueError(
        f"{_layer_label(layer)}: backward() gave {got} as the gradient of weight {name!r}; {hint}."
    )
