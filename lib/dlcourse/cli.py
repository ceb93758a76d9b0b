"""The ``dlcourse`` command line: ``dlcourse --version``, ``dlcourse doctor``, ...

Each subcommand lives in its own module, which provides three things:

``HELP``
    one line shown by ``dlcourse --help``;
``add_arguments(parser)``
    adds the subcommand's options to its ``argparse`` parser;
``run(args)``
    does the work and returns the exit code.

Adding a subcommand is one such module plus one line in :data:`COMMANDS`.
Building the parser imports every command module, so those modules must stay
cheap to import: heavy libraries belong inside ``run``.
"""

import argparse
import importlib
import sys

from dlcourse._version import __version__

# subcommand name -> the module that implements it
COMMANDS = {
    "doctor": "dlcourse.doctor",
    "build": "dlcourse.course.commands.build",
    "check": "dlcourse.course.commands.check",
    "book": "dlcourse.course.commands.book",
    "start": "dlcourse.course.commands.start",
    "source": "dlcourse.course.commands.source",
    "autograde": "dlcourse.grading.command",
    "canvas": "dlcourse.grading.canvas_command",
    "bench": "dlcourse.bench.command",
    "train": "dlcourse.distributed.command",
}


def _unavailable(module_name, err):
    # A broken command module must not take the other commands (the doctor!) down.
    def run(args):
        print(f"dlcourse {args.command}: cannot load {module_name}: {err}", file=sys.stderr)
        return 1

    return run


def build_parser():
    """The ``argparse`` parser for ``dlcourse`` and all its subcommands."""
    parser = argparse.ArgumentParser(
        prog="dlcourse",
        description="Deep learning from hand-written NumPy math up to frameworks.",
    )
    parser.add_argument("--version", action="version", version=f"dlcourse {__version__}")
    commands = parser.add_subparsers(dest="command", title="commands", metavar="COMMAND")
    for name, module_name in COMMANDS.items():
        try:
            module = importlib.import_module(module_name)
        except Exception as err:
            problem = f"{type(err).__name__}: {err}"
            sub = commands.add_parser(name, help=f"(unavailable: {problem})")
            sub.set_defaults(run=_unavailable(module_name, problem))
            continue
        sub = commands.add_parser(name, help=module.HELP, description=module.__doc__)
        sub.formatter_class = argparse.RawDescriptionHelpFormatter  # keep the docstring's layout
        module.add_arguments(sub)
        sub.set_defaults(run=module.run)
    return parser


def _exit_code(code):
    # SystemExit.code may be None (success), an int, or a message (failure).
    if code is None:
        return 0
    return code if isinstance(code, int) else 1


def main(argv=None):
    """Run ``dlcourse`` with ``argv`` (default: the real command line); return the exit code."""
    from dlcourse.quick_imports import skip_unused

    skip_unused()
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as done:  # --help, --version and usage errors end here
        return _exit_code(done.code)
    if args.command is None:
        parser.print_help()
        return 0
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
