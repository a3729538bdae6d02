"""The shards as Ray actors: fan-out calls, restart of a dead actor, and one retry.

:class:`RayShardGroup` is the coordinator's :class:`~hybridsearch.index.sharding.ShardGroup`
over Ray. A call goes to every shard at once (one actor method call each) and is gathered
after. When an actor has died (killed, its node lost) or does not answer within
``timeout_s``, it is replaced by a new actor opened from the shard's directory and the call is
sent once more; a shard that still does not answer is left out of the answer, and the
coordinator reports it on the hits (never a silent partial result).
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from hybridsearch.distributed.actors import ShardActor
from hybridsearch.distributed.cluster import import_ray
from hybridsearch.index.sharding import ShardUnavailableError

__all__ = ["RayShardGroup"]


class RayShardGroup:
    """One Ray actor per present shard.

    Args:
        directories: Shard number -> its index directory (visible to every Ray node).
        num_shards: How many shards ids are routed over.
        embedding_cache: The passage-vector cache actors encode adds through, or None.
        timeout_s: How long a call may take before its actor is counted as lost.
        actor_cpus: CPUs Ray reserves per actor (default none: they mostly wait, and
            must not keep build tasks from running).
    """

    def __init__(
        self,
        directories: Mapping[int, Path],
        num_shards: int,
        *,
        embedding_cache: str | Path | None = None,
        timeout_s: float = 120.0,
        actor_cpus: float = 0.0,
    ) -> None:
        self.num_shards = num_shards
        self.directories = {number: str(path) for number, path in directories.items()}
        self.embedding_cache = None if embedding_cache is None else str(embedding_cache)
        self.timeout_s = timeout_s
        self.restarts: dict[int, int] = {}
        ray = import_ray()
        self._remote = ray.remote(num_cpus=actor_cpus)(ShardActor)
        self.actors = {number: self._start(number) for number in self.directories}
        ray.get([actor.ready.remote() for actor in self.actors.values()])

    def _start(self, number: int) -> Any:
        return self._remote.remote(self.directories[number], self.embedding_cache)

    def add_shard(self, number: int, directory: Path) -> None:
        """Serve a shard that was just created (its first documents arrived)."""
        self.directories[number] = str(directory)
        self.actors[number] = self._start(number)

    def call(self, method: str, *args: Any, shards: Sequence[int] | None = None) -> dict[int, Any]:
        """Call ``method`` on each shard; restart and retry once a shard whose actor failed."""
        numbers = [n for n in (self.actors if shards is None else shards) if n in self.actors]
        pending = {n: self.actors[n].call.remote(method, *args) for n in numbers}
        answers, failed = self._gather(pending)
        if failed:
            for number in failed:
                self._restart(number)
            retried = {n: self.actors[n].call.remote(method, *args) for n in failed}
            more, _ = self._gather(retried)
            answers.update(more)
        return answers

    def _gather(self, pending: Mapping[int, Any]) -> tuple[dict[int, Any], list[int]]:
        """The answers that came, and the shards whose actor died or timed out."""
        ray = import_ray()
        from ray.exceptions import GetTimeoutError, RayActorError

        answers: dict[int, Any] = {}
        failed: list[int] = []
        for number, reference in pending.items():
            try:
                answers[number] = ray.get(reference, timeout=self.timeout_s)
            except (RayActorError, GetTimeoutError):
                failed.append(number)
        return answers, failed

    def _restart(self, number: int) -> None:
        """Replace a shard's actor by a new one opened from the shard's directory."""
        ray = import_ray()
        ray.kill(self.actors[number], no_restart=True)
        self.actors[number] = self._start(number)
        self.restarts[number] = self.restarts.get(number, 0) + 1

    def write(self, number: int, method: str, *args: Any) -> Any:
        """A write on one shard (not retried: a dead writer's uncommitted changes are lost)."""
        ray = import_ray()
        from ray.exceptions import RayActorError

        try:
            return ray.get(self.actors[number].write.remote(method, *args))
        except RayActorError as error:
            self._restart(number)
            raise ShardUnavailableError(
                f"shard {number}'s actor died during {method}; it was restarted from its "
                "directory (its last commit): uncommitted changes to it are lost"
            ) from error

    def shutdown(self) -> None:
        """Close every shard (write locks released) and end the actors."""
        ray = import_ray()
        closing = [actor.close.remote() for actor in self.actors.values()]
        for reference in closing:
            # An actor already gone has nothing to release.
            with contextlib.suppress(Exception):
                ray.get(reference, timeout=self.timeout_s)
        for actor in self.actors.values():
            ray.kill(actor, no_restart=True)
        self.actors = {}
