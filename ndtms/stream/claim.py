"""One live process per stage instance id.

An instance id names a stage's transactional producer and its static group membership: a
second live process with the same id would fence the first and take its partitions, and the
two would fence each other until both died. So before anything touches Kafka, an instance
takes an exclusive lock named by its cluster, group and id; a second process finds it taken,
says so and exits, and the first carries on. The lock lives in the machine's temporary folder
whatever each process's state folder, and the operating system releases it when the process
ends, however it ends (a SIGKILLed instance can be restarted at once). Across machines ids
are unique by construction (a StatefulSet's ordinal, or what the rehearsal sets).
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import tempfile
from pathlib import Path
from typing import IO


class InstanceInUse(RuntimeError):
    """Another live process holds this instance id."""


class InstanceClaim:
    def __init__(
        self,
        cluster: str,
        group_id: str,
        instance: str,
        folder: Path | None = None,
        advice: str = "give this process another NDTMS_STREAM_INSTANCE_ID (or stop that one)",
    ):
        digest = hashlib.sha256(f"{cluster}|{group_id}|{instance}".encode()).hexdigest()[:16]
        self.path = (folder or Path(tempfile.gettempdir())) / f"ndtms-instance-{digest}.lock"
        self.group_id, self.instance, self.advice = group_id, instance, advice
        self._file: IO[str] | None = None

    def take(self) -> None:
        handle = self.path.open("a+", encoding="utf-8")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            handle.close()
            raise InstanceInUse(
                f"instance id {self.instance!r} of {self.group_id} is already in use by process {holder} "
                f"on this machine; {self.advice}"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        self._file = handle

    def release(self) -> None:
        if self._file is not None:
            self._file.close()  # closing releases the lock
            self._file = None


# Claims held for the whole life of the process: a claim dropped is a lock released (the
# garbage collector closes its file).
_HELD_FOR_LIFE: list[InstanceClaim] = []


def one_process_per_file(url: str, service: str, store: str, setting: str) -> None:
    """Exit, saying why, when another process of the service already uses this SQLite file: a
    store on one machine's disk is single-instance (a shared PostgreSQL database, named by the
    setting, is what lets the service scale out). The claim is held until the process ends."""
    claim = InstanceClaim(
        url,
        f"ndtms-{service}",
        f"sqlite-{store}",
        advice=f"one {service} per SQLite {store}: set {setting} to a shared PostgreSQL database to run more",
    )
    try:
        claim.take()
    except InstanceInUse as exc:
        raise SystemExit(f"{service}: {exc}") from None
    _HELD_FOR_LIFE.append(claim)
