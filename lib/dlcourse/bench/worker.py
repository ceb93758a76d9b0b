"""One row of the benchmark, in its own process: ``python -m dlcourse.bench.worker SPEC``.

``SPEC`` is a JSON object: network, impl name, steps, warmup, repeats,
threads, device. The process limits its threads before anything else,
builds the network, then trains ``warmup`` + ``repeats`` epochs of ``steps``
steps each in one call. The ``warmup`` epochs take the compilation and
first-call costs and are not timed; each later epoch is timed from inside the
call (``epoch_timer``). Fewer epochs run when the timed ones pass
``ROW_BUDGET_S`` seconds, on a very slow or busy machine:
``ms_per_step_repeats`` shows how many ran. Its last line of output is a JSON
object: the median time per step and every repeat's, the threads it really
got, or ``skipped`` with the reason.
"""

import json
import statistics
import sys

from dlcourse.bench import threads as thread_control
from dlcourse.bench.epoch_timer import EpochTimer
from dlcourse.bench.errors import Unsupported
from dlcourse.bench.impls import IMPLS, missing_packages
from dlcourse.bench.networks import get_network, make_data

ROW_BUDGET_S = 30  # seconds of timed runs per row, after which no new repeat starts


def _trainer(impl, network, device):
    if impl.impl == "dlcourse":
        from dlcourse.bench.train_dlcourse import make_trainer

        return make_trainer(network, impl.backend, device)
    if impl.impl == "pytorch":
        from dlcourse.bench.train_pytorch import make_trainer

        return make_trainer(network, device)
    from dlcourse.bench.train_keras import make_trainer

    return make_trainer(network, device)


def time_row(spec):
    """Train and time the row ``spec`` describes; the figures as a dict."""
    impl, network = IMPLS[spec["impl"]], get_network(spec["network"])
    device, threads = spec["device"], spec["threads"]
    missing = missing_packages(impl)
    if missing:
        raise Unsupported(f"{', '.join(missing)} not installed: {impl.install}")
    reason = impl.unsupported(network.name, device)
    if reason:
        raise Unsupported(reason)
    thread_control.apply_in_child(threads, impl.library)
    train, sync = _trainer(impl, network, device)
    keras_layout = impl.impl == "keras"
    x, y = make_data(network, spec["steps"], seed=0, channels_last=keras_layout)
    warmup = spec["warmup"]
    timer = EpochTimer(sync, spec.get("budget_s", ROW_BUDGET_S), untimed=warmup)
    train(x, y, warmup + spec["repeats"], timer)
    per_step = [seconds / spec["steps"] for seconds in timer.seconds]
    return {
        "ms_per_step": 1e3 * statistics.median(per_step),
        "ms_per_step_repeats": [round(1e3 * t, 4) for t in per_step],
        "threads_seen": thread_control.threads_seen(),
    }


def main(argv=None):
    spec = json.loads((argv or sys.argv[1:])[0])
    if spec["threads"]:
        # pin the CPUs before any library loads (the imports above load none)
        thread_control.apply_in_child(spec["threads"], None)
    try:
        result = time_row(spec)
    except Unsupported as reason:
        result = {"skipped": str(reason)}
    except ImportError as err:  # a library found but broken, or missing one of its own needs
        result = {"skipped": f"{type(err).__name__}: {err}"}
    print(json.dumps(result))


if __name__ == "__main__":
    main()
