"""``History``: what ``fit`` returns, the numbers of every epoch, and a plot of them."""

from dlcourse.nn.callbacks.base import Callback

__all__ = ["History"]


class History(Callback):
    """``history.history["loss"]`` is the list of epoch losses; likewise every metric
    and every ``val_`` number. ``history.epoch`` lists the epochs run (0-based)."""

    def __init__(self):
        super().__init__()
        self.history = {}
        self.epoch = []

    def on_epoch_end(self, epoch, logs=None):
        self.epoch.append(epoch)
        for key, value in (logs or {}).items():
            self.history.setdefault(key, []).append(value)

    def __repr__(self):
        keys = ", ".join(self.history) or "nothing yet"
        return f"<History: {len(self.epoch)} epochs of {keys}>"

    def plot(self, figsize=None):
        """A matplotlib Figure: one panel per quantity, training and validation together.

        In JupyterLab the figure shows as the cell's result; elsewhere save it
        with ``fig.savefig("history.png")``.
        """
        import matplotlib.pyplot  # noqa: F401  (lets Jupyter display a returned Figure)
        from matplotlib.figure import Figure

        names = [k for k in self.history if not k.startswith("val_") and k != "learning_rate"]
        names += [k[4:] for k in self.history if k.startswith("val_") and k[4:] not in names]
        panels = max(1, len(names))
        fig = Figure(figsize=figsize or (4.5 * panels, 3.4), layout="constrained")
        axes = fig.subplots(1, panels, squeeze=False)[0]
        epochs = [e + 1 for e in self.epoch]
        for ax, name in zip(axes, names):
            for key, label in ((name, "training"), (f"val_{name}", "validation")):
                if key in self.history:
                    ax.plot(epochs, self.history[key], marker="o", markersize=3, label=label)
            ax.set_xlabel("epoch")
            ax.set_title(name)
            ax.grid(alpha=0.3)
            ax.legend()
        if not names:
            axes[0].set_title("no epochs recorded")
        return fig
