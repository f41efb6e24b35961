"""RegionSparse's machinery: the purifier, object localization, OMP, patches, filters, the dictionary file
and its training. It knows no classifier and no other defense.
"""
