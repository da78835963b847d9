"""YAML read with a bound on alias expansion: mapping files and study configs are small, and a
700-byte file whose anchors refer to anchors (the "billion laughs") must be refused at once
instead of expanding into gigabytes. ``yaml.safe_load`` builds no objects from tags; it does
expand every alias, which is what this module bounds."""

from __future__ import annotations

from typing import Any

import yaml

#: Nodes a document may have once its aliases are expanded: far above any real mapping or
#: config (the bundled ones have a few hundred), far below what costs time or memory.
MAX_NODES = 100_000


class YAMLTooLarge(yaml.YAMLError):
    """The document expands (through aliases) to more than :data:`MAX_NODES` nodes."""


def _expanded_size(node: yaml.Node, seen: dict[int, int], limit: int) -> int:
    """Nodes of ``node`` with every alias expanded, counted once per distinct node (memo by
    id), so the count itself costs time linear in the text; a recursive anchor counts as
    over the limit."""
    key = id(node)
    if key in seen:
        if seen[key] < 0:  # still being counted: the node contains itself
            return limit + 1
        return seen[key]
    seen[key] = -1
    total = 1
    if isinstance(node, yaml.SequenceNode):
        children = node.value
    elif isinstance(node, yaml.MappingNode):
        children = [n for pair in node.value for n in pair]
    else:
        children = []
    for child in children:
        total += _expanded_size(child, seen, limit)
        if total > limit:
            break
    seen[key] = total
    return total


def load_yaml(text: str, max_nodes: int = MAX_NODES) -> Any:
    """``yaml.safe_load(text)``, refusing a document whose aliases expand past ``max_nodes``.

    Raises
    ------
    yaml.YAMLError
        Invalid YAML, or :class:`YAMLTooLarge` (a subclass) for alias expansion past the bound.

    >>> load_yaml("a: &x [1, 2]\\nb: *x")
    {'a': [1, 2], 'b': [1, 2]}
    >>> bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\\n" + "".join(
    ...     f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 10)}]\\n"
    ...     for i in range(6))
    >>> load_yaml(bomb)
    Traceback (most recent call last):
    ...
    metsurv._yaml.YAMLTooLarge: the YAML expands through its aliases (&anchor / *alias) to more than 100000 values; write the values out instead of nesting aliases
    """
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        if _expanded_size(node, {}, max_nodes) > max_nodes:
            raise YAMLTooLarge(
                f"the YAML expands through its aliases (&anchor / *alias) to more than "
                f"{max_nodes} values; write the values out instead of nesting aliases")
        return loader.construct_document(node)
    finally:
        loader.dispose()
