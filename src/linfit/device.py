"""Where a run trains: the device (cpu, cuda) and how many threads torch may use."""

from __future__ import annotations

import os

import torch

from linfit.errors import ConfigError

CHUNK_ROWS = 1 << 18  # rows a chunk: its temporaries stay in cache and are reused, not mapped afresh
SINGLE_THREAD_BELOW = CHUNK_ROWS  # rows; below one chunk a second thread has nothing to split


def resolve_device(device: str, source: str = "--device") -> torch.device:
    """The device to train on; 'auto' is cuda when this torch has a GPU, else cpu.

    Asking for cuda where there is none is a ConfigError (exit 2) that names `source` (a flag or a file's key).
    """
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        why = "this torch was built without CUDA" if torch.version.cuda is None else "no CUDA GPU is visible"
        raise ConfigError(f"{source}: {device} is not available here: {why}; the devices here: cpu.", "Use --device cpu (or auto).")
    return torch.device(device)


def choose_threads(requested: int, n: int) -> int:
    """The requested count, at most the cores available; else one thread for small data, and for big data one per core that is idle.

    Measured on 2 cores: a second thread halves a step at 1e7 rows on an idle machine, but makes it
    three times slower when the other core is busy (its share of each op waits for a core).
    """
    cores = available_cores()
    if requested:
        return min(requested, cores)  # more threads than cores only contend; tens of thousands crash OpenMP
    if n < SINGLE_THREAD_BELOW:
        return 1
    busy = os.getloadavg()[0] if hasattr(os, "getloadavg") else 0.0
    return max(1, min(cores, round(cores - busy)))


def available_cores() -> int:
    """The cores this process may run on (its CPU affinity, where the system tells)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def configure_threads(requested: int, n: int) -> int:
    """Set torch's intra-op threads (see choose_threads); return the count."""
    threads = choose_threads(requested, n)
    torch.set_num_threads(threads)
    return threads
