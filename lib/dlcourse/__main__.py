"""``python -m dlcourse`` runs the ``dlcourse`` command."""

from dlcourse.cli import main

raise SystemExit(main())
