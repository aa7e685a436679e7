"""Typed outcomes of running an artifact: the runtime cannot execute it, or it ran and produced garbage."""

from __future__ import annotations

from edge_gmp.errors import UserError


class Unsupported(UserError):
    """The runtime cannot execute this artifact (an op it lacks, sparse encoding, ...).

    ``reason`` carries the runtime's own message; ``op`` names the missing op when the runtime said which.
    A UserError: the fix is a different artifact (e.g. the dense, not sparse-encoded, file), not a bug to report.
    """

    def __init__(self, runtime: str, reason: str, op: str | None = None) -> None:
        self.runtime, self.reason, self.op = runtime, reason.strip(), op
        super().__init__(f"{runtime} cannot run this model: {self.reason}")

    def __reduce__(self) -> tuple:  # pickled across the child process that runs a native runtime
        return type(self), (self.runtime, self.reason, self.op)


class VerificationFailure(RuntimeError):
    """The artifact ran but its outputs are wrong (non-finite, or disagree with the reference)."""


class NonFiniteOutput(VerificationFailure):
    def __init__(self, runtime: str, output: str, bad: int, total: int) -> None:
        self.runtime, self.output, self.bad, self.total = runtime, output, bad, total
        super().__init__(f"{runtime}: output {output!r} has {bad} non-finite value(s) of {total} (NaN/Inf)")

    def __reduce__(self) -> tuple:
        return type(self), (self.runtime, self.output, self.bad, self.total)


class ArenaTooSmall(RuntimeError):
    """TFLite Micro could not allocate or run the model within the given tensor arena."""

    def __init__(self, arena_bytes: int, message: str) -> None:
        self.arena_bytes, self.message = arena_bytes, message.strip()
        super().__init__(f"tensor arena of {arena_bytes} bytes is too small: {self.message}")

    def __reduce__(self) -> tuple:
        return type(self), (self.arena_bytes, self.message)
