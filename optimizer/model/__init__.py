"""Constraint families of the allocation model, one module each, and the builder."""
