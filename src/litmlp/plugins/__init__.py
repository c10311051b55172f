"""Lightning plugins."""

from litmlp.plugins.atomic_checkpoint_io import AtomicCheckpointIO

__all__ = ["AtomicCheckpointIO"]
