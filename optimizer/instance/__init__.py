"""Instances: the data dictionary, reading and writing, validation, generation."""

from optimizer.instance.instance import Instance, Parameters, load_instance

__all__ = ["Instance", "Parameters", "load_instance"]
