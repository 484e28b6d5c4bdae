"""AtomicPusher: TFX's Pusher (same spec, inputs and outputs) with the atomic executor."""
from tfx.components import Pusher
from tfx.dsl.components.base import executor_spec

from components.pusher import executor


class AtomicPusher(Pusher):
    """Publishes ``<base>/<version>/`` only when complete, safely beside concurrent pushes; keeps the newest
    versions and every version TF Serving's model config or ``pinned_versions`` pins."""

    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(executor.Executor)
