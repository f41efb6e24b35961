"""Files, images, image folders, labels and the bundled assets: the bottom of the core, importing no other
core sub-package.
"""
