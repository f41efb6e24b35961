"""Classifiers: the registry of families (one ClassifierSpec each), the classifier wrapper, weights files,
CAM and activation profiles.
"""
