import polars as pl
import streamlit as st

from app import page, queries, services
from app.text import plain
from governance.screens import Screen
from lakehouse.sql import ConsoleResult
from pipelines.reads.sql import DEFAULT_ROW_LIMIT, MAX_ROW_LIMIT, TIMEOUT_SECONDS, as_csv, run_console_query

RESULT_KEY = "sql.result"
EXAMPLE = """SELECT model, batch_id, feature, statistic, threshold, drifted
FROM monitoring_drift
WHERE drifted
ORDER BY computed_at DESC"""

visit = page.start(
    Screen.SQL,
    title="SQL console",
    caption=(
        "Read-only SQL (DuckDB) over the lakehouse tables your roles may query, as they are now. "
        f"One SELECT at a time; it stops after {TIMEOUT_SECONDS:g} s."
    ),
)
roles = visit.user.roles
with page.reading():
    tables = queries.console_tables(visit.home, tuple(sorted(r.value for r in roles)))

with st.expander(f"Tables you may query ({len(tables)})"):
    st.dataframe(
        pl.DataFrame(
            {
                "SQL name": [t.sql_name for t in tables],
                "Lakehouse table": [t.table for t in tables],
                "Columns": [", ".join(t.columns) for t in tables],
            }
        ),
        hide_index=True,
        width="stretch",
    )

with st.form("sql.form"):
    text = st.text_area("SQL", value=EXAMPLE, height=160, key="sql.text")
    limit = st.number_input(
        "Row limit", min_value=1, max_value=MAX_ROW_LIMIT, value=DEFAULT_ROW_LIMIT, step=100, key="sql.limit"
    )
    run = st.form_submit_button("Run query", type="primary", icon=":material/play_arrow:")

if run:
    st.session_state.pop(RESULT_KEY, None)
    with page.reading():
        st.session_state[RESULT_KEY] = run_console_query(
            services.get_context(), text, roles=roles, row_limit=int(limit)
        )

result = st.session_state.get(RESULT_KEY)
if isinstance(result, ConsoleResult):
    shown = result.rows
    st.caption(f"{shown.height:,} rows in {result.seconds:.2f} s")
    if result.truncated:
        st.warning(
            plain(
                f"The query returned more than {shown.height:,} rows: showing the first {shown.height:,}. "
                "Raise the row limit or narrow the query."
            )
        )
    st.dataframe(shown, hide_index=True, width="stretch")
    with page.reading():
        csv = as_csv(shown)
    st.download_button(
        f"Download {shown.height:,} rows (CSV)",
        data=csv,
        file_name="query.csv",
        mime="text/csv",
        on_click="ignore",
        key="sql.download_csv",
        icon=":material/download:",
    )
