"""The pipeline's caches (GUI thread only, Qt-free): prepared images and stage results.

Results are keyed by everything they depend on (image, classifier, attack and defense configuration), so a
cached result is never shown for different inputs, and going back to an image is instant.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable
from typing import Generic, TypeVar

V = TypeVar("V")


class LRU(Generic[V]):
    """Least-recently-used mapping with a fixed number of entries."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._items: OrderedDict[Hashable, V] = OrderedDict()

    def get(self, key: Hashable) -> V | None:
        value = self._items.get(key)
        if value is not None:
            self._items.move_to_end(key)
        return value

    def put(self, key: Hashable, value: V) -> None:
        self._items[key] = value
        self._items.move_to_end(key)
        while len(self._items) > self.capacity:
            self._items.popitem(last=False)

    def clear(self) -> None:
        self._items.clear()

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, key: Hashable) -> bool:
        return key in self._items


class StageCache:
    """Prepared images and stage results of every image seen, keyed by everything each depends on.

    Originals by (image, classifier); attacks also by the attack's key; purified images also by the
    defense's key. A new classifier starts a new epoch, so nothing made with the old one is ever reused.
    """

    def __init__(self) -> None:
        self.epoch = 0
        self._images: LRU = LRU(96)  # (path, input size) → prepared image: the first look needs no reload
        self._originals: LRU = LRU(256)
        self._attacks: LRU = LRU(128)
        self._purified: LRU = LRU(64)

    def new_classifier(self) -> None:
        """Forget every result (the prepared images stay: they are keyed by input size)."""
        self.epoch += 1
        self._originals.clear()
        self._attacks.clear()
        self._purified.clear()

    def _key(self, path: object, *more: Hashable) -> tuple:
        return (str(path), self.epoch, *more)

    def image(self, path: object, size: int) -> object | None:
        return self._images.get((path, size))

    def put_image(self, path: object, size: int, image: object) -> None:
        self._images.put((path, size), image)

    def original(self, path: object) -> object | None:
        return self._originals.get(self._key(path))

    def put_original(self, path: object, result: object) -> None:
        self._originals.put(self._key(path), result)

    def attack(self, path: object, attack_key: Hashable) -> object | None:
        return self._attacks.get(self._key(path, attack_key))

    def put_attack(self, path: object, attack_key: Hashable, result: object) -> None:
        self._attacks.put(self._key(path, attack_key), result)

    def purified(self, path: object, attack_key: Hashable, defense_key: Hashable) -> object | None:
        return self._purified.get(self._key(path, attack_key, defense_key))

    def put_purified(self, path: object, attack_key: Hashable, defense_key: Hashable, result: object) -> None:
        self._purified.put(self._key(path, attack_key, defense_key), result)
