"""``model.fit`` on the ``pytensor`` backend, in its compile modes, against ``manual``.

The measurement of ``benchmarks/fit_autodiff.py`` (MLP 784-256-128-10, batch
128, float32, SGD; fresh processes, alternating rounds; median time per step)
for these backends:

- ``manual``: the hand-written reference;
- ``pytensor:FAST_COMPILE``: the backend's default (Python implementations);
- ``pytensor:NUMBA``: PyTensor 3's own default, compiled by Numba;
- ``pytensor:CVM``: Theano's classic C code.

"first epoch" is the time of the first ``fit`` epoch, compilation included. It
depends on PyTensor's cache (``~/.pytensor``): the first round of a new graph
compiles from scratch, later ones find it in the cache (compare round 1 with
the others in ``--json``'s output, or point ``PYTENSOR_FLAGS=base_compiledir=``
at an empty folder to measure a cold start every time).

    python benchmarks/fit_pytensor.py --threads 1
"""

from fit_autodiff import main

if __name__ == "__main__":
    main(
        backends=("manual", "pytensor:FAST_COMPILE", "pytensor:NUMBA", "pytensor:CVM"),
        target="none in issue 3: reported for comparison",
    )
