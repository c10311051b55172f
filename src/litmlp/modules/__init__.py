"""LightningModules: the step logic around a plain `nn.Module` net."""

from litmlp.modules.classifier import Classifier

__all__ = ["Classifier"]
