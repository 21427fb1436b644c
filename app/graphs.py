"""Graphviz DOT builders: pure functions from lineage edges to DOT text, no streamlit.

Every id in a lineage graph can come from people or data (model and table names, entity keys), so
no id is ever written into DOT except as an escaped, quoted label: DOT node names are generated.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from governance.lineage import Edge, Node

# shape, fill colour and caption per node kind; other kinds get the default
_KINDS: dict[str, tuple[str, str, str]] = {
    "table": ("cylinder", "#e8f0fe", "table version"),
    "mlflow_run": ("box", "#fff4e5", "MLflow run"),
    "model_version": ("component", "#e6f4ea", "model version"),
    "batch": ("folder", "#f3e8fd", "scoring batch"),
    "prediction": ("ellipse", "#fde8e8", "prediction"),
}
_DEFAULT_KIND = ("box", "#f1f3f4", "")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
MAX_LABEL = 80  # characters of an id shown in a node; longer ids are cut with an ellipsis


def dot_string(text: str) -> str:
    """`text` as a quoted DOT string that Graphviz shows exactly as written.

    Inside quotes DOT only unescapes \\", but Graphviz then reads backslash sequences in labels
    (\\n, \\l, \\N, \\G, ...): every backslash is doubled first, so none of them can start one.
    Control characters (a newline in an entity key) are shown as spaces.
    """
    escaped = _CONTROL.sub(" ", text).replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


def _shown(text: str) -> str:
    return text if len(text) <= MAX_LABEL else f"{text[: MAX_LABEL - 1]}…"


def lineage_dot(start: Node, edges: Iterable[Edge]) -> str:
    """A left-to-right DOT graph of `edges` (sources left), `start` drawn bold and red-outlined.

    Node names are n0, n1, ... in sorted node order, so equal inputs give equal text; labels show
    each node's kind and id, and each edge's relation.
    """
    unique = sorted(set(edges))
    nodes = sorted({start} | {e.src for e in unique} | {e.dst for e in unique})
    names = {node: f"n{i}" for i, node in enumerate(nodes)}
    lines = [
        "digraph lineage {",
        "  rankdir=LR;",
        '  graph [fontname="Helvetica", nodesep=0.35, ranksep=0.6];',
        '  node [fontname="Helvetica", fontsize=11, style="filled", color="#5f6368", penwidth=1];',
        '  edge [fontname="Helvetica", fontsize=10, color="#5f6368", fontcolor="#3c4043"];',
    ]
    for node in nodes:
        shape, fill, caption = _KINDS.get(node.kind, _DEFAULT_KIND)
        attributes = [f"label={_two_lines(caption or node.kind, node.id)}", f"shape={shape}", f'fillcolor="{fill}"']
        if node == start:
            attributes += ['color="#d62728"', "penwidth=3", 'fontname="Helvetica-Bold"']
        lines.append(f"  {names[node]} [{', '.join(attributes)}];")
    for edge in unique:
        lines.append(f"  {names[edge.src]} -> {names[edge.dst]} [label={dot_string(edge.relation)}];")
    lines.append("}")
    return "\n".join(lines) + "\n"


def _two_lines(caption: str, node_id: str) -> str:
    """A quoted label: the caption, a DOT line break, the id; both escaped."""
    return f"{dot_string(caption)[:-1]}\\n{dot_string(_shown(node_id))[1:]}"
