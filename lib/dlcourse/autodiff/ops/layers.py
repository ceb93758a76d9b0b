"""Convolution and max-pooling as Functions around the hand-written code.

``dlcourse.functional`` already has both passes of each layer in the
``(out, cache)`` convention; a Function only has to keep the cache between
them. This is how any hand-written layer joins the engine.
"""

from dlcourse.autodiff.function import Function
from dlcourse.functional.conv import conv2d_backward, conv2d_forward
from dlcourse.functional.pooling import maxpool2d_backward, maxpool2d_forward

__all__ = ["Conv2D", "MaxPool2D", "conv2d", "max_pool2d"]


class Conv2D(Function):
    @staticmethod
    def forward(ctx, x, w, b, stride=1, pad=0):
        out, ctx.cache = conv2d_forward(x, w, b, stride=stride, pad=pad)
        return out

    @staticmethod
    def backward(ctx, grad):
        return conv2d_backward(grad, ctx.cache)  # (dx, dw, db)


class MaxPool2D(Function):
    @staticmethod
    def forward(ctx, x, size=2, stride=None):
        out, ctx.cache = maxpool2d_forward(x, size=size, stride=stride)
        return out

    @staticmethod
    def backward(ctx, grad):
        return maxpool2d_backward(grad, ctx.cache)


def conv2d(x, w, b, stride=1, pad=0):
    """2-D convolution: x (N, C, H, W), w (F, C, KH, KW), b (F,) -> (N, F, OH, OW)."""
    return Conv2D.apply(x, w, b, stride=stride, pad=pad)


def max_pool2d(x, size=2, stride=None):
    """Max over ``size x size`` windows (stride defaults to size): (N, C, H, W) in."""
    return MaxPool2D.apply(x, size=size, stride=stride)
