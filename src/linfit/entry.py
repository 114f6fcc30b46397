"""The `linfit` command's first few lines: start importing torch at once when the command will need it.

torch's import is most of the wall time of a short run. Begun here, on another thread, it goes on
while the command line is parsed and the data file is read (pyarrow's reader releases the GIL).
The thread is not a daemon: a run that fails early waits for the import to finish before it exits,
because a process that exits while a thread is still loading torch's libraries can abort.
"""

from __future__ import annotations

import sys
import threading

NEEDS_TORCH = {"train", "grad", "graph"}


def main() -> None:
    arguments = sys.argv[1:]
    command = next((a for a in arguments if not a.startswith("-")), None)
    if command in NEEDS_TORCH and not {"-h", "--help"} & set(arguments):
        import importlib

        threading.Thread(target=importlib.import_module, args=("torch",), daemon=False, name="import-torch").start()
    from linfit.cli import main as run

    run()
