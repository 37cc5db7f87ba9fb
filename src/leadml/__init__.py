"""leadml: predict which marketing leads convert, explain why, rank them for sales."""

__version__ = "0.1.0"
