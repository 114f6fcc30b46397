"""Data-parallel training on PyTorch's own engine: `torchrun --nproc-per-node N -m linfit train ...`.

torchrun sets RANK, WORLD_SIZE and the rendezvous; each process reads its share of the rows, and the
gradient and loss of every step are summed across processes (gloo on the CPU, nccl on CUDA), so the
result is the single-process one. Only rank 0 prints and writes files (and an error: each process raises
the same one, see `Group.gathered`). Without torchrun nothing changes.

When another process of the run dies (or its machine goes away), the next collective operation fails in
gloo or nccl ("Connection reset by peer"); each survivor turns that into a `PeerLostError`: one line
naming its rank, exit code 8 (errors.ExitCode.PEER_LOST).
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Callable, Iterator

from linfit.errors import PeerLostError
from linfit.reference import Moments, merge_moments


@dataclass(frozen=True)
class Group:
    rank: int
    world: int
    all_reduce: Callable  # sums a tensor in place across processes

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def merged(self, local: Moments) -> Moments:
        """Every process's moments, merged: the moments of all the rows."""
        return merge_moments(self._exchange(local))

    def _exchange(self, mine) -> list:
        import torch.distributed as dist

        parts: list = [None] * self.world
        with peers_present(self.rank, self.world):
            dist.all_gather_object(parts, mine)
        return parts

    def gathered(self, mine) -> list:
        """Every process's `mine` (any picklable object), in rank order.

        Where a process failed instead (see `fail`), every process raises the failure of the lowest
        rank: its rows come first in the data, so that is the error one process alone would give.
        """
        parts = self._exchange(mine)
        for part in parts:
            if isinstance(part, tuple) and part and isinstance(part[0], str) and part[0] == FAILED:
                raise part[1](part[2], part[3]) from None
        return parts

    def all_agree(self, ok: bool) -> bool:
        """True when every process says True: a decision all of them take together."""
        return all(self.gathered(bool(ok)))

    def fail(self, error) -> None:
        """Tell the others, waiting at their next `gathered`, that this process failed; raises the first failure."""
        self.gathered((FAILED, type(error), error.message, error.hint))
        raise error


FAILED = "linfit: a process failed"


def launched_by_torchrun() -> bool:
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def join(device_type: str) -> Group | None:
    """Join the process group torchrun set up, or None when running alone."""
    if not launched_by_torchrun():
        return None
    import torch
    import torch.distributed as dist

    if not dist.is_initialized():
        dist.init_process_group("nccl" if device_type == "cuda" else "gloo")
    if device_type == "cuda":
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))

    rank, world = dist.get_rank(), dist.get_world_size()

    def all_reduce(tensor):
        with peers_present(rank, world):
            dist.all_reduce(tensor, op=dist.ReduceOp.SUM)

    return Group(rank=rank, world=world, all_reduce=all_reduce)


# what gloo and nccl say when the other end of a connection is gone, and the words to say it in
LOST = (
    ("connection reset", "its connection was reset"),
    ("connection closed", "its connection was closed"),
    ("broken pipe", "its connection broke"),
    ("timed out", "it stopped answering (timed out)"),
    ("timeout", "it stopped answering (timed out)"),
)


@contextmanager
def peers_present(rank: int, world: int) -> Iterator[None]:
    """A collective operation; a failure of the transport (a peer died) is a PeerLostError, not a bug."""
    try:
        yield
    except RuntimeError as exc:  # gloo's and nccl's errors (DistBackendError among them) are RuntimeErrors
        text = str(exc).lower()
        how = next((words for needle, words in LOST if needle in text), f"the transport failed: {str(exc).splitlines()[0][:120]}")
        raise PeerLostError(
            f"rank {rank} of {world}: another process of this torchrun run was lost ({how}); this one stopped too, writing nothing.",
            "See the other process's log for why it ended, then run again (torchrun --max-restarts N restarts by itself).",
        ) from None


def speaks(error: BaseException) -> bool:
    """Whether this process prints `error`: rank 0 alone (every process raises the same error, see `gathered`),
    except for an error each process has its own of (a lost peer)."""
    return getattr(error, "every_rank", False) or int(os.environ.get("RANK", "0") or 0) == 0


def leave() -> None:
    import torch.distributed as dist

    if dist.is_initialized():
        dist.destroy_process_group()


def share(n: int, rank: int, world: int) -> slice:
    """The rows of an n-row file that process `rank` of `world` trains on: a contiguous block."""
    return slice(n * rank // world, n * (rank + 1) // world)
