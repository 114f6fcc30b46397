"""The errors linfit raises on purpose, and the exit code each one ends in.

The core raises these; the command line turns them into one line on stderr and
the exit code below, in one place (`cli.LinfitGroup.invoke`).
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """Exit codes, documented in the README and `linfit --help`."""

    OK = 0
    UNEXPECTED = 1  # a bug: please report it (run again with --debug for the traceback)
    USAGE = 2  # a bad flag, argument or configuration value
    DATA = 3  # the data file cannot be read or is not usable for a fit
    DIVERGED = 4  # the loss became non-finite or exploded: the learning rate is too large
    NOT_CONVERGED = 5  # --strict, and the step limit came before convergence
    CHECK_FAILED = 6  # --check: autograd, the hand formula and finite differences disagree
    OUTPUT = 7  # an output failed while being written (no space, file-size limit, a closed stdout); a path refused before any work is USAGE
    PEER_LOST = 8  # torchrun: another process of the run was lost (it died, or its machine went away)
    INTERRUPTED = 130  # Ctrl-C (SIGINT)
    BROKEN_PIPE = 141  # stdout was closed early (`| head`): 128 + SIGPIPE, as other Unix tools
    TERMINATED = 143  # SIGTERM (a scheduler, a container's stop, `timeout`)


class LinfitError(Exception):
    """An error whose message is meant for the user: what happened, and what to do."""

    exit_code: ExitCode = ExitCode.UNEXPECTED

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} {self.hint}" if self.hint else self.message


class ConfigError(LinfitError):
    """A configuration value (from a file or a flag) is missing, unknown or out of range."""

    exit_code = ExitCode.USAGE


class DataError(LinfitError):
    """The data cannot be read, or cannot determine a line."""

    exit_code = ExitCode.DATA


class DivergedError(LinfitError):
    """Training blew up: the loss became non-finite or grew without bound."""

    exit_code = ExitCode.DIVERGED


class NotConvergedError(LinfitError):
    """Raised only under --strict: the step limit came before the stopping rule was met."""

    exit_code = ExitCode.NOT_CONVERGED


class UsageError(LinfitError):
    """A command-line request that cannot be carried out as given (an output path that cannot be written)."""

    exit_code = ExitCode.USAGE


class FlagError(UsageError):
    """A flag's value that cannot be used with the others; the command line reports it as a bad parameter."""

    def __init__(self, message: str, flag: str) -> None:
        super().__init__(message)
        self.flag = flag


class OutputError(LinfitError):
    """An output file could not be written; whatever was there before is left as it was."""

    exit_code = ExitCode.OUTPUT


class PeerLostError(LinfitError):
    """Under torchrun, a collective operation failed because another process of the run is gone."""

    exit_code = ExitCode.PEER_LOST
    every_rank = True  # each survivor says so: the process that would speak for the run may be the one lost


class CheckFailedError(LinfitError):
    """--check found gradients that disagree beyond the tolerance."""

    exit_code = ExitCode.CHECK_FAILED
