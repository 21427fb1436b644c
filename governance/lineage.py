"""Lineage as a graph: which nodes lie upstream or downstream of one. Pure: the edges are passed in.

Nodes are typed ids: a table at a version ('table', 'raw/loans@3'), an MLflow run, a model
version ('model_version', 'loan_default/2'), a scoring batch.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True, order=True)
class Node:
    kind: str
    id: str


@dataclass(frozen=True, order=True)
class Edge:
    src: Node
    relation: str
    dst: Node


def _walk(edges: Iterable[Edge], start: Node, *, forward: bool) -> list[Edge]:
    by_node: dict[Node, list[Edge]] = {}
    for edge in edges:
        by_node.setdefault(edge.src if forward else edge.dst, []).append(edge)
    seen_nodes, found, queue = {start}, [], deque([start])
    while queue:
        node = queue.popleft()
        for edge in sorted(by_node.get(node, [])):
            found.append(edge)
            nxt = edge.dst if forward else edge.src
            if nxt not in seen_nodes:
                seen_nodes.add(nxt)
                queue.append(nxt)
    return found


def upstream(edges: Iterable[Edge], start: Node) -> list[Edge]:
    """Every edge on a path into `start`: what it was made from, transitively."""
    return _walk(edges, start, forward=False)


def downstream(edges: Iterable[Edge], start: Node) -> list[Edge]:
    """Every edge on a path out of `start`: what was made from it, transitively."""
    return _walk(edges, start, forward=True)
