"""YAML as hyperseal reads its files: safe, and a key given twice is an error.

PyYAML keeps the last of two equal keys in a mapping without a word, so a
config or search space that sets ``lr`` twice would silently use the second.
:func:`load_yaml` refuses it with :class:`DuplicateKeyError`, a
``yaml.YAMLError`` whose mark gives the line of the second key; its message
names the key, never a value (values can be secret hyperparameters).
"""

from __future__ import annotations

from pathlib import Path
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


class YamlLimitError(yaml.YAMLError):
    """The document is too big once its aliases are expanded, or an alias refers to itself."""


def load_yaml(text: str, *, where: str = "YAML", error: type[Exception] = YamlLimitError) -> Any:
    """``yaml.safe_load(text)``, refusing a key given twice and alias bombs.

    Aliases (``*name``) are allowed, but the document they expand to may hold at most
    :data:`MAX_YAML_NODES` values (a "billion laughs" file of a few lines expands to
    billions, which would exhaust memory once walked or stored), and an alias may not
    refer to a node that contains it. Both are checked on the composed node graph,
    before any Python object is built.

    Args:
        text: the YAML (or JSON) text.
        where: names the source in the limit errors (the file's path).
        error: the class raised for those (the caller's, for its exit code).

    Raises:
        DuplicateKeyError: a key appears twice in one mapping.
        yaml.YAMLError: the text is not valid YAML.
        Exception: ``error``: over :data:`MAX_YAML_NODES` values, a recursive alias, or
            nested too deeply to read.
    """
    loader = _StrictLoader(text)  # a SafeLoader: no arbitrary objects
    try:
        try:
            node = loader.get_single_node()
        except RecursionError:
            raise error(f"{where}: nested too deeply to read; flatten it") from None
        if node is None:
            return None
        _check_expansion(node, where, error)
        return loader.construct_document(node)
    finally:
        loader.dispose()


#: The most values (scalars, lists and mappings, counted once per use) a YAML
#: document may expand to through its aliases.
MAX_YAML_NODES = 100_000


def _check_expansion(root: yaml.Node, where: str, error: type[Exception]) -> None:
    """Count the nodes ``root`` expands to (aliases counted at every use), iteratively."""
    size: dict[int, int] = {}
    active: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, done = stack.pop()
        key = id(node)
        children = _children(node)
        if done:
            active.discard(key)
            size[key] = 1 + sum(size[id(child)] for child in children)
            if size[key] > MAX_YAML_NODES:
                raise error(
                    f"{where}: expands to more than {MAX_YAML_NODES} values through its "
                    "aliases (*name); write the values out or use fewer aliases"
                )
            continue
        if key in size:
            continue
        if key in active:
            raise error(f"{where}: an alias (*name) refers to a node that contains it")
        active.add(key)
        stack.append((node, True))
        stack.extend((child, False) for child in children if id(child) not in size)


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    return []


def duplicate_key_message(exc: DuplicateKeyError) -> str:
    """``key 'lr' appears twice (line 4); keep one``."""
    line = getattr(exc.problem_mark, "line", None)
    at = f" (line {line + 1})" if line is not None else ""
    return f"key {exc.key!r} appears twice{at}; keep one"


def read_yaml_file(path: Path, *, what: str, expect: str, error: type[Exception]) -> Any:
    """The YAML (or JSON) document in ``path``: a regular UTF-8 file of bounded size.

    Every failure is one ``error`` line that names ``what`` (``"config file"``) and the
    path, says what to pass (``expect``: ``"a YAML file"``), and for a syntax error gives
    only the position: YAML's own description can quote the file, which may hold secrets.
    """
    from tuner.bounded import MAX_YAML_BYTES, read_text

    path = Path(path)
    if path.is_dir():
        raise error(f"{what} {path} is a folder, not {expect}; pass {expect}")
    if not path.exists():
        raise error(f"{what} {path} does not exist; pass {expect}")
    try:
        text = read_text(path, MAX_YAML_BYTES, f"the {what}", error)
        return load_yaml(text, where=f"{what} {path}", error=error)
    except DuplicateKeyError as exc:
        raise error(f"{what} {path}: {duplicate_key_message(exc)}") from None
    except UnicodeDecodeError:
        raise error(f"{what} {path} is not UTF-8 text; save it as UTF-8") from None
    except yaml.YAMLError as exc:
        raise error(
            f"{what} {path} is not valid YAML{yaml_position(exc, text)}; "
            "check the indentation, brackets and quotes there"
        ) from None
    except OSError as exc:
        raise error(
            f"cannot read the {what} {path} ({exc.strerror}); check its permissions"
        ) from None


def yaml_position(exc: Exception, text: str) -> str:
    """`` at line L, column C`` of a YAML error (1-based), or nothing when YAML gives none."""
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    if mark is not None:
        return f" at line {mark.line + 1}, column {mark.column + 1}"
    position = getattr(exc, "position", None)  # a ReaderError: a character YAML refuses
    if isinstance(position, int):
        before = text[:position]
        return f" at line {before.count(chr(10)) + 1}, column {position - before.rfind(chr(10))}"
    return ""
