"""Benchmarks page: the runs `deeprag eval` wrote under eval.runs_dir, one at a time or two side by side.

It opens on the newest finished run (and compares the two newest finished ones): a run still writing, or one
killed early, has no metrics.json, and the pickers label it unfinished."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import streamlit as st

from ground.config import Config
from app.ui.runs import Run, compare, default_runs, list_runs, run_label
from app.ui.texts import t

config: Config = st.session_state["config"]
runs_dir = Path(config.eval.runs_dir)

st.title(t("bench.title"))
runs = list_runs(runs_dir)
if not runs:
    st.info(t("bench.no_runs", folder=runs_dir.resolve()))
    st.stop()

st.dataframe(
    [
        {
            "run": run.name,
            "kind": (run.metrics or {}).get("kind"),
            "dataset": (run.metrics or {}).get("dataset"),
            "queries": (run.metrics or {}).get("queries"),
            "status": t("bench.finished") if run.finished else t("bench.unfinished"),
            "updated": dt.datetime.fromtimestamp(run.modified).strftime("%Y-%m-%d %H:%M"),
        }
        for run in runs
    ],
    hide_index=True,
    width="stretch",
    column_config={name: t(f"bench.col.{name}") for name in ("run", "kind", "dataset", "queries", "status", "updated")},
)
by_name = {run.name: run for run in runs}
names = list(by_name)
opened = [names.index(run.name) for run in default_runs(runs, 2)]  # newest finished first


def show_plots(run: Run) -> None:
    for plot in run.plots:
        st.image(str(plot), caption=plot.name)


single, side_by_side = st.tabs([t("bench.one_run"), t("bench.compare")])
with single:
    run = by_name[st.selectbox(t("bench.run"), names, index=opened[0], key="bench_run",
                               format_func=lambda name: run_label(by_name[name]))]
    if not run.finished:
        st.warning(t("bench.no_metrics"))
    metrics, report, plots, settings = st.tabs([t("bench.metrics"), t("bench.report"), t("bench.plots"),
                                                t("bench.config")])
    with metrics:
        st.dataframe([{"metric": k, "value": v} for k, v in run.numbers().items()], hide_index=True,
                     column_config={"metric": t("bench.col.metric"), "value": t("bench.col.value")})
    with report:
        st.markdown(run.report_text() or t("bench.no_report"))
    with plots:
        if run.plots:
            show_plots(run)
        else:
            st.caption(t("bench.no_plots"))
    with settings:
        st.json(run.config or {})
with side_by_side:
    if len(runs) < 2:
        st.info(t("bench.only_one"))
    else:
        left_col, right_col = st.columns(2)
        label = lambda name: run_label(by_name[name])  # noqa: E731
        a = by_name[left_col.selectbox(t("bench.run_a"), names, index=opened[1], key="bench_a", format_func=label)]
        b = by_name[right_col.selectbox(t("bench.run_b"), names, index=opened[0], key="bench_b", format_func=label)]
        st.dataframe(compare(a, b), hide_index=True, width="stretch")
        with left_col:
            show_plots(a)
        with right_col:
            show_plots(b)
