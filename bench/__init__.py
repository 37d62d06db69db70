"""Running tests on a bench: sequence engine, safety, records, command line and GUI."""

__version__ = "0.1.0"
