"""The math of neural networks written by hand, forward and backward side by side.

Every layer follows one convention::

    out, cache = name_forward(inputs...)
    grads = name_backward(dout, cache)

Recurrent layers come as one step (``rnn_step_forward``) and as a whole
sequence (``rnn_forward``; backpropagation through time in ``rnn_backward``),
likewise for the LSTM and the GRU. Losses return ``(loss, dinput)``. Update
rules (``SGD``, ``RMSProp``, ``Adam``) keep explicit state and write into the
parameters, as an optimizer must; ``clip_grad_norm`` returns new arrays.
Functions take their array library from their inputs, so they run unchanged
on NumPy arrays and PyTorch tensors, on CPU or GPU.
"""

from dlcourse.functional.activations import (
    leaky_relu_backward,
    leaky_relu_forward,
    relu_backward,
    relu_forward,
    sigmoid_backward,
    sigmoid_forward,
    softmax_backward,
    softmax_forward,
    tanh_backward,
    tanh_forward,
)
from dlcourse.functional.attention import attention_backward, attention_forward
from dlcourse.functional.batchnorm import batchnorm_backward, batchnorm_forward, batchnorm_state
from dlcourse.functional.clip import clip_grad_norm
from dlcourse.functional.conv import conv2d_backward, conv2d_forward
from dlcourse.functional.conv_naive import conv2d_backward_naive, conv2d_forward_naive
from dlcourse.functional.dense import dense_backward, dense_forward
from dlcourse.functional.dropout import dropout_backward, dropout_forward
from dlcourse.functional.embedding import embedding_backward, embedding_forward
from dlcourse.functional.flatten import flatten_backward, flatten_forward
from dlcourse.functional.gelu import gelu_backward, gelu_forward
from dlcourse.functional.gru import gru_backward, gru_forward, gru_step_backward, gru_step_forward
from dlcourse.functional.layernorm import layernorm_backward, layernorm_forward
from dlcourse.functional.losses import (
    binary_cross_entropy_with_logits,
    mse_loss,
    softmax_cross_entropy,
)
from dlcourse.functional.lstm import (
    lstm_backward,
    lstm_forward,
    lstm_step_backward,
    lstm_step_forward,
)
from dlcourse.functional.optimizers import SGD, Adam, RMSProp, sgd_update
from dlcourse.functional.pooling import maxpool2d_backward, maxpool2d_forward
from dlcourse.functional.pooling_naive import maxpool2d_backward_naive, maxpool2d_forward_naive
from dlcourse.functional.recurrent import (
    rnn_backward,
    rnn_forward,
    rnn_step_backward,
    rnn_step_forward,
)

__all__ = [
    "SGD",
    "Adam",
    "RMSProp",
    "attention_backward",
    "attention_forward",
    "batchnorm_backward",
    "batchnorm_forward",
    "batchnorm_state",
    "binary_cross_entropy_with_logits",
    "clip_grad_norm",
    "conv2d_backward",
    "conv2d_backward_naive",
    "conv2d_forward",
    "conv2d_forward_naive",
    "dense_backward",
    "dense_forward",
    "dropout_backward",
    "dropout_forward",
    "embedding_backward",
    "embedding_forward",
    "flatten_backward",
    "flatten_forward",
    "gelu_backward",
    "gelu_forward",
    "gru_backward",
    "gru_forward",
    "gru_step_backward",
    "gru_step_forward",
    "layernorm_backward",
    "layernorm_forward",
    "leaky_relu_backward",
    "leaky_relu_forward",
    "lstm_backward",
    "lstm_forward",
    "lstm_step_backward",
    "lstm_step_forward",
    "maxpool2d_backward",
    "maxpool2d_backward_naive",
    "maxpool2d_forward",
    "maxpool2d_forward_naive",
    "mse_loss",
    "relu_backward",
    "relu_forward",
    "rnn_backward",
    "rnn_forward",
    "rnn_step_backward",
    "rnn_step_forward",
    "sgd_update",
    "sigmoid_backward",
    "sigmoid_forward",
    "softmax_backward",
    "softmax_cross_entropy",
    "softmax_forward",
    "tanh_backward",
    "tanh_forward",
]
