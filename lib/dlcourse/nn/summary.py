"""The text of ``model.summary()``: one row per layer, then the totals.

A layer's count includes the layers inside it. A Functional model also lists
its inputs and, for each layer, what it is connected to (the layers or inputs
whose outputs it takes; a layer used twice lists both calls).
"""

__all__ = ["summary_text"]


def _shape(shape):
    if isinstance(shape, list):
        return ", ".join(_shape(s) for s in shape)
    return "?" if shape is None else str(tuple(shape)).replace(",)", ")")


def _sources(model):
    """Layer id -> "a, b" (what feeds each call) for a Functional model, else None."""
    nodes = getattr(model, "nodes", None)
    if nodes is None:
        return None
    sources = {}
    for node in nodes:
        names = [t.name if t.node is None else t.node.layer.name for t in node.input_list]
        sources.setdefault(id(node.layer), []).append(", ".join(names))
    return {key: " | ".join(calls) for key, calls in sources.items()}


def summary_text(model):
    sources = _sources(model)
    heading = ("Layer (type)", "Output Shape", "Param #")
    rows = []
    if sources is not None:
        heading += ("Connected to",)
        for tensor in model.inputs:
            rows.append((f"{tensor.name} (Input)", _shape(tensor.shape), "0", ""))
    for layer in model.layers:
        params = f"{layer.count_params():,}" if layer.built else "?"
        row = (f"{layer.name} ({type(layer).__name__})", _shape(layer.output_shape), params)
        if sources is not None:
            row += (sources.get(id(layer), ""),)
        rows.append(row)
    columns = len(heading)
    widths = [max(len(r[i]) for r in [heading, *rows]) + 3 for i in range(columns)]
    width = sum(widths)

    def line(row):
        text = row[0].ljust(widths[0]) + row[1].ljust(widths[1]) + row[2].rjust(widths[2] - 3)
        if columns == 4:
            text += "   " + row[3]
        return text

    out = [f'Model: "{model.name}"  backend: {model.backend.describe()}, dtype: {model.dtype}']
    out += ["_" * width, line(heading), "=" * width]
    for row in rows:
        out += [line(row), "_" * width]
    if model.built:
        trainable = sum(_count(w) for w in model.trainable_weights)
        total = model.count_params()
        out += [
            f"Total params: {total:,}",
            f"Trainable params: {trainable:,}",
            f"Non-trainable params: {total - trainable:,}",
        ]
    else:
        out.append(
            "Not built yet: the weights are made at the first input. "
            "Call model.build((None, features)) or fit the model to see the counts."
        )
    return "\n".join(out)


def _count(weight):
    count = 1
    for s in weight.shape:
        count *= int(s)
    return count
