"""Tools anyone re-runs, from the repository root: ``python -m scripts.<name>`` (benchmarks, the
installation check, the LGG-to-DICOM converter, the generators of docs/settings.md and
docker/requirements-*.txt, the page's screenshots). Each module's logic is importable (the tests
import :mod:`scripts.serving`, :mod:`scripts.lgg_to_dicom`, ...); none edits ``sys.path``. The
set-up, serve and test commands beside them are shell scripts (``bash scripts/<name>.sh``).
"""
