"""The text of ``model.summary()``: one row per layer, then the totals."""

__all__ = ["summary_text"]


def _shape(shape):
    return "?" if shape is None else str(tuple(shape)).replace(",)", ")")


def summary_text(model):
    rows = [("Layer (type)", "Output Shape", "Param #")]
    for layer in model.layers:
        params = f"{layer.count_params():,}" if layer.built else "?"
        rows.append((f"{layer.name} ({type(layer).__name__})", _shape(layer.output_shape), params))
    widths = [max(len(r[i]) for r in rows) + 3 for i in range(3)]
    width = sum(widths)

    def line(row):
        return row[0].ljust(widths[0]) + row[1].ljust(widths[1]) + row[2].rjust(widths[2] - 3)

    out = [f'Model: "{model.name}"  backend: {model.backend.describe()}, dtype: {model.dtype}']
    out += ["_" * width, line(rows[0]), "=" * width]
    for row in rows[1:]:
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
