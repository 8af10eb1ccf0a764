"""The package version: one owner, read by the facade, the card builder and step keys."""

__all__ = ["__version__"]

__version__ = "0.1.0"
