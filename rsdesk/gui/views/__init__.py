"""The window's parts bound to the models: the panel grid, the gallery list, the attack and defense
controls, the activations tab, the training strip and presentation mode."""
