"""One entry for every engine: launch the workers, then finish and write the report."""

import shutil
import time

from dlcourse.distributed import report

__all__ = ["run"]


def run(options):
    """Run ``options`` (a ``TrainOptions``) to the end; returns the report dict."""
    folder = report.work_folder(options.json_path)
    try:
        result = _run_in(options, folder)
    finally:
        shutil.rmtree(folder, ignore_errors=True)  # the workers' scratch files, not the report
    if result is not None and options.json_path:
        report.write_report(result, options.json_path)
    return result


def _run_in(options, folder):
    if options.engine == "torch":
        from dlcourse.distributed import torch_engine

        if torch_engine.under_torchrun():
            # torchrun started this process as one rank: train here, rank 0 reports;
            # if the torchrun agent is killed, this rank goes too (no orphans)
            from dlcourse.distributed.processes import die_with_parent

            die_with_parent()
            result = torch_engine.run_rank(options, folder, started=time.time())
        else:
            result = torch_engine.launch(options, folder)
    else:
        from dlcourse.distributed import tensorflow_engine

        result = tensorflow_engine.launch(options, folder)
    return result
