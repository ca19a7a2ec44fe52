"""Stack backends: where the broker, the database and the alerting come from."""

from hil.stack.base import (
    DockerUnavailable,
    MissingBinaries,
    ServerControl,
    ServerStartError,
    Stack,
    StackError,
)
from hil.stack.docker import DockerStack, docker_available
from hil.stack.external import ExternalStack
from hil.stack.factory import BACKENDS, create_stack, resolve_backend
from hil.stack.native import NativeStack

__all__ = [
    "BACKENDS",
    "DockerStack",
    "DockerUnavailable",
    "ExternalStack",
    "MissingBinaries",
    "NativeStack",
    "ServerControl",
    "ServerStartError",
    "Stack",
    "StackError",
    "create_stack",
    "docker_available",
    "resolve_backend",
]
