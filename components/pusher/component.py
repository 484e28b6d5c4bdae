"""AtomicPusher: TFX's Pusher (same spec, inputs and outputs) with the atomic executor."""
from tfx.components import Pusher
from tfx.dsl.components.base import executor_spec

from components.pusher import executor


class AtomicPusher(Pusher):
    """Publishes ``<base>/<version>/`` only when complete; keeps the newest versions."""

    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(executor.Executor)
