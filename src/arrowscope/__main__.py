"""``python -m arrowscope`` runs the command line app."""

from .app.cli import main

raise SystemExit(main())
