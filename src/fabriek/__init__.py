"""Fabriek: the open one-stop shop for Europe's AI Factories."""

__version__ = "0.1.0"
