"""A name → entry registry that refuses duplicates; models, datasets, tasks and optimizers use it."""
from __future__ import annotations

from typing import Generic, Iterator, TypeVar

from .errors import UserError, did_you_mean

T = TypeVar("T")


class Registry(Generic[T]):
    """Entries keyed by name. Registering a name twice is a programming error (ValueError);
    asking for an unknown name is a user error that suggests the closest names."""

    def __init__(self, kind: str):
        self.kind = kind
        self._entries: dict[str, T] = {}

    def add(self, name: str, entry: T) -> T:
        if name in self._entries:
            raise ValueError(f"{self.kind} '{name}' is already registered")
        self._entries[name] = entry
        return entry

    def get(self, name: str) -> T:
        try:
            return self._entries[name]
        except KeyError:
            raise UserError(
                f"unknown {self.kind} '{name}'{did_you_mean(name, self._entries, n=3)}; "
                f"known: {', '.join(sorted(self._entries))}"
            ) from None

    def __contains__(self, name: str) -> bool:
        return name in self._entries

    def names(self) -> list[str]:
        return sorted(self._entries)

    def items(self) -> Iterator[tuple[str, T]]:
        return iter(sorted(self._entries.items()))
