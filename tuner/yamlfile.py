"""YAML as hyperseal reads its files: safe, and a key given twice is an error.

PyYAML keeps the last of two equal keys in a mapping without a word, so a
config or search space that sets ``lr`` twice would silently use the second.
:func:`load_yaml` refuses it with :class:`DuplicateKeyError`, a
``yaml.YAMLError`` whose mark gives the line of the second key; its message
names the key, never a value (values can be secret hyperparameters).
"""

from __future__ import annotations

from typing import Any

import yaml


class DuplicateKeyError(yaml.constructor.ConstructorError):
    """A mapping gives the same key twice; ``key`` is the key, ``problem_mark`` the second."""

    def __init__(self, key: Any, mark: Any) -> None:
        super().__init__(None, None, f"key {key!r} appears twice", mark)
        self.key = key


class _StrictLoader(yaml.SafeLoader):
    def construct_mapping(self, node: Any, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":  # '<<': merged keys may be overridden
                continue
            key = self.construct_object(key_node, deep=True)
            try:
                duplicate = key in seen
            except TypeError:  # an unhashable key: SafeLoader reports it
                break
            if duplicate:
                raise DuplicateKeyError(key, key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def load_yaml(text: str) -> Any:
    """``yaml.safe_load(text)``, refusing a mapping that gives a key twice.

    Raises:
        DuplicateKeyError: a key appears twice in one mapping.
        yaml.YAMLError: the text is not valid YAML.
    """
    return yaml.load(text, Loader=_StrictLoader)  # a SafeLoader: no arbitrary objects


def duplicate_key_message(exc: DuplicateKeyError) -> str:
    """``key 'lr' appears twice (line 4); keep one``."""
    line = getattr(exc.problem_mark, "line", None)
    at = f" (line {line + 1})" if line is not None else ""
    return f"key {exc.key!r} appears twice{at}; keep one"
