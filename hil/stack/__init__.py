"""Stack backends: where the broker, the database and the alerting come from."""

from alertloop.hil.stack.base import (
    DockerUnavailable,
    MissingBinaries,
    ServerControl,
    ServerStartError,
    Stack,
    StackError,
)
from alertloop.hil.stack.docker import DockerStack, docker_available
from alertloop.hil.stack.external import ExternalStack
from alertloop.hil.stack.factory import BACKENDS, create_stack, resolve_backend
from alertloop.hil.stack.native import NativeStack

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
