"""The operations of the Tensor engine, one ``Function`` subclass each.

Grouped by kind: ``elementwise`` (+ - * / ** exp log sqrt abs tanh relu
sigmoid, casts), ``selection`` (maximum, minimum, where, clip,
take_along_axis), ``reductions`` (sum, mean, max), ``shape`` (reshape,
transpose, indexing), ``matmul``, ``losses`` (softmax, log_softmax,
cross_entropy) and ``layers`` (conv2d, max_pool2d, which wrap the
hand-written code of ``dlcourse.functional`` as Functions).
"""
