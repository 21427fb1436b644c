from __future__ import annotations

import io
import json
import re
import zipfile
from collections.abc import Callable
from pathlib import Path

import polars as pl
import pytest
from streamlit.testing.v1 import AppTest

from app.audit_panels import PreparedPack
from app.graphs import dot_string, lineage_dot
from app.text import plain
from governance.lineage import Edge, Node
from governance.roles import Role
from lakehouse.schemas import AUDIT
from pipelines.reads.lineage import StartKind
from tests.app.conftest import metric, open_app
from tests.conftest import ADMIN, AUDITOR, Seeded, context_for

PAGE = "views/lineage.py"


def edges(at: AppTest) -> pl.DataFrame:
    return pl.from_pandas(at.dataframe[0].value)


def dot(at: AppTest) -> str:
    charts = at.get("graphviz_chart")
    assert len(charts) == 1
    return str(charts[0].proto.spec)


def start_from(at: AppTest, start: StartKind) -> AppTest:
    return at.segmented_control(key="lineage.start").set_value(start).run()


def a_prediction(seeded: Seeded) -> str:
    batch = seeded.batch_ids[0]
    predictions = context_for(seeded.home).store.read("predictions")
    return f"{batch}:{predictions.filter(pl.col('batch_id') == batch)['entity_key'][0]}"


@pytest.mark.parametrize(("user", "role"), [(AUDITOR, Role.AUDITOR), (ADMIN, Role.ADMIN)])
def test_a_model_version_is_traced_both_ways_with_graph_table_and_exports(
    seeded: Seeded, serve_home: Callable[[Path], None], user: str, role: Role
) -> None:
    serve_home(seeded.home)
    run_id = context_for(seeded.home).registry.version("loan_default", "1").run_id

    at = open_app(user, role, page=PAGE)

    assert not at.exception
    assert not at.error
    assert at.title[0].value == "Lineage"
    assert at.selectbox(key="lineage.model_version").value == "loan_default/1"
    found = edges(at)
    upstream = found.filter(pl.col("direction") == "upstream")
    assert set(upstream["relation"]) == {"registered", "trained"}
    assert upstream.filter(pl.col("relation") == "trained")["from_id"].to_list() == ["raw/loans@0"]
    assert upstream.filter(pl.col("relation") == "registered")["from_id"].to_list() == [run_id]
    downstream = found.filter(pl.col("direction") == "downstream")
    assert set(downstream["to_id"]) == set(seeded.batch_ids)
    assert metric(at, "Upstream links") == "2"
    assert metric(at, "Downstream links") == str(len(seeded.batch_ids))
    graph = dot(at)
    assert graph.startswith("digraph lineage {")
    assert '"model version\\nloan_default/1"' in graph
    assert '"table version\\nraw/loans@0"' in graph
    assert graph.count(" -> ") == found.height
    keys = [b.key for b in at.download_button]
    assert keys == ["lineage.download_csv", "lineage.download_json"]  # no pack until one is prepared


def test_a_prediction_id_shows_its_upstream_chain_to_the_training_table(
    seeded: Seeded, serve_home: Callable[[Path], None]
) -> None:
    serve_home(seeded.home)
    prediction = a_prediction(seeded)
    at = start_from(open_app(AUDITOR, Role.AUDITOR, page=PAGE), StartKind.PREDICTION)
    assert not at.get("graphviz_chart")  # nothing traced before an id is given

    at.text_input(key="lineage.prediction").set_value(f"  {prediction} ").run()

    assert not at.exception
    assert not at.error
    found = edges(at)
    assert set(found["direction"]) == {"upstream"}
    assert found.row(0, named=True) == {
        "direction": "upstream",
        "from_kind": "batch",
        "from_id": seeded.batch_ids[0],
        "relation": "predicted",
        "to_kind": "prediction",
        "to_id": prediction,
    }
    assert {"scored", "scored_in", "registered", "trained"} <= set(found["relation"])
    assert "raw/loans@0" in set(found["from_id"])
    details = json.loads(at.json[0].proto.body)
    assert details["model_version"] == {"model": "loan_default", "version": "1"}
    assert details["training_table"] == {"table": "raw/loans", "version": 0}
    assert "penwidth=3" in next(line for line in dot(at).splitlines() if prediction in line)


def test_a_bad_prediction_id_is_one_error_line(seeded: Seeded, serve_home: Callable[[Path], None]) -> None:
    serve_home(seeded.home)
    at = start_from(open_app(AUDITOR, Role.AUDITOR, page=PAGE), StartKind.PREDICTION)

    at.text_input(key="lineage.prediction").set_value("*nonsense*").run()

    assert not at.exception
    assert [e.value for e in at.error] == [
        plain("prediction id '*nonsense*' is not valid: expected <batch_id>:<entity key>")
    ]
    assert not at.get("graphviz_chart")
    assert at.selectbox(key="lineage.pack.version").value == "loan_default/1"  # the rest of the page still works


def test_a_batch_and_a_table_version_are_traced(seeded: Seeded, serve_home: Callable[[Path], None]) -> None:
    serve_home(seeded.home)
    at = start_from(open_app(AUDITOR, Role.AUDITOR, page=PAGE), StartKind.BATCH)
    batch = seeded.batch_ids[0]

    at.selectbox(key="lineage.batch").set_value(batch).run()

    assert not at.exception
    found = edges(at)
    assert set(found["direction"]) == {"upstream"}  # nothing is made from a batch yet
    assert {"loan_default/1", "raw/applications@1"} == set(found.filter(pl.col("to_id") == batch)["from_id"])

    at = start_from(at, StartKind.TABLE_VERSION)
    at.selectbox(key="lineage.table_version").set_value("raw/loans@0").run()

    assert not at.exception
    found = edges(at)
    assert set(found["direction"]) == {"downstream"}
    assert {"loan_default/1", *seeded.batch_ids} <= set(found["to_id"])


def test_the_evidence_pack_is_prepared_audited_and_offered_as_a_zip(
    seeded: Seeded, serve_home: Callable[[Path], None]
) -> None:
    serve_home(seeded.home)
    at = open_app(AUDITOR, Role.AUDITOR, page=PAGE)
    assert at.selectbox(key="lineage.pack.version").value == "loan_default/1"

    at.button(key="lineage.pack.prepare").click().run()

    assert not at.exception
    assert not at.error
    assert at.status[-1].state == "complete"
    download = at.download_button(key="lineage.pack.download")
    assert download.label.startswith("Download loan_default-v1-evidence.zip")
    prepared = at.session_state["lineage.pack"]
    assert isinstance(prepared, PreparedPack)
    with zipfile.ZipFile(io.BytesIO(prepared.data)) as pack:
        assert {"verify_pack.py", "chain.jsonl", "lineage.json", "model_card.json"} <= set(pack.namelist())
    exported = context_for(seeded.home).store.read(AUDIT).filter(pl.col("action") == "export_evidence")
    assert exported.select("actor", "object_id", "outcome").rows() == [(AUDITOR, "loan_default/1", "ok")]

    at.run()  # the prepared pack survives a rerun
    assert at.download_button(key="lineage.pack.download").label == download.label


def test_an_admin_sees_why_the_evidence_pack_is_not_theirs_to_export(
    seeded: Seeded, serve_home: Callable[[Path], None]
) -> None:
    serve_home(seeded.home)

    at = open_app(ADMIN, Role.ADMIN, page=PAGE)

    assert not at.exception
    prepare = at.button(key="lineage.pack.prepare")
    assert prepare.disabled
    assert any("needs the auditor role" in c.value for c in at.caption)


@pytest.mark.parametrize(
    ("text", "quoted"),
    [
        ("plain", '"plain"'),
        ('say "hi"', '"say \\"hi\\""'),
        ("back\\slash", '"back\\\\slash"'),
        ("ends in \\", '"ends in \\\\"'),  # cannot escape the closing quote
        ("\\N\\G\\n\\l", '"\\\\N\\\\G\\\\n\\\\l"'),  # no Graphviz substitution or line break
        ("two\nlines\r\t", '"two lines  "'),
        ("<b>{x|y}</b>;]", '"<b>{x|y}</b>;]"'),  # no HTML or record label: only quotes are special
    ],
)
def test_dot_strings_show_any_id_exactly_as_written(text: str, quoted: str) -> None:
    assert dot_string(text) == quoted


def test_the_dot_graph_names_nodes_itself_and_marks_the_start() -> None:
    hostile = Node("prediction", 'b-1:x"]; evil -> n0; n9 [label="')
    batch = Node("batch", "b-1")
    graph = lineage_dot(hostile, [Edge(batch, "predicted", hostile), Edge(batch, "predicted", hostile)])

    lines = graph.splitlines()
    assert [line for line in lines if re.match(r"  n\d+ -> ", line)] == ['  n0 -> n1 [label="predicted"];']  # once
    start = next(line for line in lines if line.startswith("  n1 ["))
    assert 'b-1:x\\"]; evil -> n0; n9 [label=\\"' in start
    assert "penwidth=3" in start
    assert graph.rstrip().endswith("}")
    assert len(lineage_dot(Node("table", "raw/t@0"), []).splitlines()) == 7  # a lone start is still drawn
