"""RSDesk: how adversarial examples fool an image classifier, and how RegionSparse undoes them."""

__version__ = "0.1.0"
