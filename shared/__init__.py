"""Helpers shared by the Deep into CNNs notebooks: configuration, data, training and plotting."""

__version__ = "0.1.0"
