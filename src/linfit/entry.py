"""The `linfit` command's first few lines: start importing torch at once when the command will need it.

torch's import is most of the wall time of a short run. Begun here, on another thread, it goes on
while the command line is parsed and the data file is read (pyarrow's reader releases the GIL).
Whatever happens, the main thread waits for that import before it exits: a process that shuts down
while a thread is still loading torch can fail in that thread, or abort.
"""

from __future__ import annotations

import sys
import threading

NEEDS_TORCH = {"train", "grad", "graph"}


def main() -> None:
    arguments = sys.argv[1:]
    command = next((a for a in arguments if not a.startswith("-")), None)
    importer = None
    if command in NEEDS_TORCH and not {"-h", "--help"} & set(arguments):
        import importlib

        importer = threading.Thread(target=importlib.import_module, args=("torch",), daemon=True, name="import-torch")
        importer.start()
    try:
        from linfit.cli import main as run

        run()
    finally:
        if importer is not None:
            importer.join()
