"""Reusable controls (image panel, prediction bars, parameter editors, class picker, message bar, drop
target, QImage helpers). They know the core's types, never the app's models."""
