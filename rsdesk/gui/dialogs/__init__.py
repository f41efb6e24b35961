"""Dialogs: the settings editor and the file pickers (open images, export folder, dictionaries)."""
