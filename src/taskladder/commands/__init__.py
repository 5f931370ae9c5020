"""One module per CLI command; each has ``add_arguments(parser)`` and ``run(args) -> int``.

Modules here import only light libraries at import time; torch and matplotlib are imported
inside ``run``.
"""
