"""Static HTML: one self-contained page per study and an index of studies.

Pages carry their CSS inline and their figures as inline SVG; they load nothing (no script, no
font, no image, no stylesheet from anywhere), so they open offline, archive as one file and print.
Jinja2 autoescaping is on: every string from a spec, a config or the records is escaped.
"""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote

import numpy as np
import pandas as pd
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from markupsafe import Markup

from annealbench_report import __version__, collect, figures, stats

STATUS_ORDER = ("completed", "diverged", "failed", "running")


def _env() -> Environment:
    env = Environment(loader=PackageLoader("annealbench_report", "templates"),
                      autoescape=select_autoescape(["html", "j2"], default_for_string=True),
                      undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters["num"] = fmt
    env.filters["lr"] = fmt_lr
    env.filters["duration"] = fmt_duration
    return env


# ---------------------------------------------------------------- formatting


def _finite(x) -> bool:
    try:
        return x is not None and not pd.isna(x) and math.isfinite(float(x))
    except (TypeError, ValueError):
        return False


def fmt(x, signed: bool = False) -> str:
    """4 decimals below 100, 1 above; '–' for missing; 'nan'/'inf' spelled out."""
    if x is None or (not isinstance(x, str) and pd.isna(x)):
        return "–"
    x = float(x)
    if not math.isfinite(x):
        return str(x)
    s = f"{x:+.4f}" if signed else f"{x:.4f}"
    if abs(x) >= 100:
        s = f"{x:+.1f}" if signed else f"{x:.1f}"
    return s.replace("-", "−")


def parse_num(text: str) -> float:
    """Inverse of :func:`fmt` for one number (used by tests and anyone scraping the page)."""
    return float(text.replace("−", "-").replace("+", ""))


def fmt_date(value) -> str:
    """An ISO-8601 time as 'YYYY-MM-DD HH:MM UTC' (as given when it does not parse)."""
    if not value:
        return "–"
    try:
        t = datetime.fromisoformat(str(value))
    except ValueError:
        return str(value)
    if t.tzinfo is not None:
        return t.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return t.strftime("%Y-%m-%d %H:%M")


def fmt_lr(x) -> str:
    return "–" if not _finite(x) else f"{float(x):g}"


def fmt_duration(seconds) -> str:
    if not _finite(seconds):
        return "–"
    s = int(round(float(seconds)))
    h, rem = divmod(s, 3600)
    m, sec = divmod(rem, 60)
    return f"{h}:{m:02d}:{sec:02d} ({float(seconds):.1f} s)"


def cell(text, value=None, cls: str = "") -> dict:
    """A table cell: display text, the exact number behind it (data-value) and a CSS class."""
    return {"text": text if isinstance(text, Markup) else str(text),
            "value": repr(float(value)) if _finite(value) else None, "cls": cls}


def pm_cell(mean, std, n=None) -> dict:
    text = f"{fmt(mean)} ± {fmt(std)}" if _finite(std) else fmt(mean)
    if n is not None:
        text += f" (n={int(n)})"
    return cell(text, mean, "num")


def table(columns, rows, caption: str = "", cls: str = "") -> dict:
    return {"columns": list(columns), "rows": rows, "caption": caption, "cls": cls}


# ---------------------------------------------------------------- study context


def _study_meta(study_dir: Path) -> tuple[dict, dict, dict]:
    info = collect.study_info(study_dir)
    cfg = collect.first_config(study_dir)
    return info["study"], info["meta"], cfg


def _orders(study: dict, df: pd.DataFrame, const: str | None) -> tuple[list, list]:
    scheds = [str(s) for s in (study.get("schedules") or {})]
    opts = [str(o) for o in (study.get("optimizers") or {})]
    present_s = sorted(set(df["schedule"].astype(str)), key=lambda s: (s != const, s))
    present_o = sorted(set(df["optimizer"].astype(str)))
    scheds = [s for s in scheds if s in present_s] + [s for s in present_s if s not in scheds]
    opts = [o for o in opts if o in present_o] + [o for o in present_o if o not in opts]
    if const in scheds:  # the reference first
        scheds.remove(const)
        scheds.insert(0, const)
    return scheds, opts


def _swatch(styles: dict, schedule: str) -> Markup:
    color = styles.get(str(schedule), {}).get("color", "#777777")
    return Markup('<span class="sw" style="background:{}"></span>').format(color)


def summary_tables(summ: pd.DataFrame, opts: list, scheds: list, styles: dict, primary: str,
                   directions: dict, const: str | None) -> list[dict]:
    """Per optimizer setting: a headline sentence and the table of schedules vs the fixed LR."""
    out = []
    arrow = "higher is better" if stats.direction(primary, directions) == "max" else \
        "lower is better"
    for opt in opts:
        s = summ[summ["optimizer"] == opt]
        if s.empty:
            continue
        s = s.assign(_o=s["schedule"].map({n: i for i, n in enumerate(scheds)})).sort_values("_o")
        best = stats.best_per_optimizer(s)
        best = best.iloc[0] if len(best) else None
        rows = []
        for _, r in s.iterrows():
            is_ref = r["schedule"] == const
            is_best = best is not None and r["schedule"] == best["schedule"]
            lr_note = Markup("{}{}").format(fmt_lr(r["base_lr"]), Markup(
                "<br><small>best of {}</small>").format(r["n_base_lrs"])
                if r["n_base_lrs"] > 1 else "")
            not_done = [f"{r[f'n_{k}']} {k}" for k in ("diverged", "failed", "running")
                        if r[f"n_{k}"]]
            seeds = f"{r['n_completed']}/{r['n_runs']}" + (f" ({', '.join(not_done)})"
                                                           if not_done else "")
            ci = (f"[{fmt(r['paired_val_mean'] - r['paired_val_ci95'], True)}, "
                  f"{fmt(r['paired_val_mean'] + r['paired_val_ci95'], True)}] "
                  f"(n={r['paired_n']})") if _finite(r["paired_val_ci95"]) and not is_ref else "–"
            verdict_cls = {"better": "good", "worse": "bad"}.get(r["verdict"], "")
            rows.append({"cls": "best" if is_best else "", "cells": [
                cell(Markup("{}{}{}").format(_swatch(styles, r["schedule"]), r["schedule"],
                                             Markup(' <span class="badge">best</span>')
                                             if is_best else ""), cls="name"),
                cell(r["schedule_type"]),
                cell(lr_note, r["base_lr"], "num"),
                cell(seeds),
                pm_cell(r["val_mean"], r["val_std"]),
                cell("reference" if is_ref else fmt(r["delta_val"], True),
                     None if is_ref else r["delta_val"], "num"),
                cell(ci, None, "num"),
                cell(r["verdict"], cls=verdict_cls),
                pm_cell(r["test_mean"], r["test_std"]),
                cell("reference" if is_ref else fmt(r["delta_test"], True),
                     None if is_ref else r["delta_test"], "num"),
            ]})
        ref_name = const or "(none)"
        cols = ["schedule", "type", "base LR", "seeds completed", f"final val {primary}",
                f"Δ val vs {ref_name}", "paired 95% CI of Δ val", "verdict (val)",
                f"final test {primary}", f"Δ test vs {ref_name}"]
        out.append({"optimizer": opt, "headline": headline(best, s, primary, const),
                    "table": table(cols, rows, f"{opt}: final {primary}, mean ± std over completed "
                                   f"seeds ({arrow})", "summary"), "best": best,
                    "swatch": _swatch(styles, best["schedule"]) if best is not None else ""})
    return out


def headline(best, s: pd.DataFrame, primary: str, const: str | None) -> str:
    """One sentence, winner first: the schedule with the best mean final validation metric and how
    it compares with the fixed-LR arm."""
    if best is None or not _finite(best["val_mean"]):
        return "no completed runs yet."
    val = (f"final val {primary} {fmt(best['val_mean'])} ± {fmt(best['val_std'])} "
           f"(n={best['val_n']}, LR {fmt_lr(best['base_lr'])})")
    if const is None:
        return f"{best['schedule']} is best: {val}; there is no fixed-LR arm to compare with."
    if best["schedule"] == const:
        return f"the fixed LR ({const}) is best: {val}; no schedule beats it."
    ref = s[s["schedule"] == const]
    if ref.empty or not _finite(ref.iloc[0]["val_mean"]):
        return f"{best['schedule']} is best: {val}; the fixed-LR arm has no completed run."
    vs = f"vs {fmt(ref.iloc[0]['val_mean'])} for {const} (Δ {fmt(best['delta_val'], True)}"
    v = best["verdict"]
    if v == "better":
        return f"{best['schedule']} wins: {val} {vs}; paired 95% CI excludes 0)."
    if v == "better (no CI)":
        return f"{best['schedule']} is ahead: {val} {vs}; too few paired seeds for an interval)."
    return f"{best['schedule']} is ahead, but not clearly: {val} {vs}; paired 95% CI includes 0)."


def _epoch_table(numbers: pd.DataFrame, order, with_lr: bool, caption: str) -> dict:
    arms = [(s, lr) for s, lr in order if ((numbers["schedule"] == s) & (numbers["base_lr"] == lr)).any()]
    show_lr = len({lr for _, lr in arms}) > 1
    cols, epochs = ["epoch"], sorted(numbers["epoch"].unique())
    for s, lr in arms:
        name = f"{s} (LR {fmt_lr(lr)})" if show_lr else s
        cols.append(f"{name}: mean ± 95% CI (n)")
        if with_lr:
            cols.append(f"{name}: LR")
    idx = numbers.set_index(["schedule", "base_lr", "epoch"])
    rows = []
    for e in epochs:
        cells = [cell(str(int(e)), e, "num")]
        for s, lr in arms:
            key = (s, lr, e)
            if key in idx.index:
                r = idx.loc[key]
                text = f"{fmt(r['mean'])} ± {fmt(r['ci95'])} ({int(r['n'])})" if _finite(
                    r["ci95"]) else f"{fmt(r['mean'])} ({int(r['n'])})"
                cells.append(cell(text, r["mean"], "num"))
                if with_lr:
                    cells.append(cell(fmt_lr(r["lr"]), r["lr"], "num"))
            else:
                cells += [cell("–")] * (2 if with_lr else 1)
        rows.append({"cls": "", "cells": cells})
    return table(cols, rows, caption, "numbers")


def _final_numbers_table(numbers: pd.DataFrame, order, caption: str) -> dict:
    seeds = sorted(numbers["seed"].unique())
    cols = ["schedule", "base LR", "split", *[f"seed {int(s)}" for s in seeds], "mean ± std (n)"]
    rows = []
    for s, lr in order:
        g = numbers[(numbers["schedule"] == s) & (numbers["base_lr"] == lr)].set_index("seed")
        if g.empty:
            continue
        for col, split in (("final_val", "val"), ("final_test", "test")):
            if col == "final_test" and not numbers["final_test"].notna().any():
                continue
            cells = [cell(s, cls="name"), cell(fmt_lr(lr), lr, "num"), cell(split)]
            for seed in seeds:
                if seed not in g.index:
                    cells.append(cell("–"))
                    continue
                r = g.loc[seed]
                st = str(r["status"])
                if st == "diverged":
                    at = r["diverged_step"]
                    cells.append(cell(f"diverged at step {int(at)}" if _finite(at) else "diverged",
                                      cls="bad"))
                elif st != "completed":
                    cells.append(cell(st, cls="muted"))
                else:
                    cells.append(cell(fmt(r[col]), r[col], "num"))
            v = g[col].dropna()
            cells.append(pm_cell(v.mean() if len(v) else np.nan,
                                 v.std() if len(v) > 1 else np.nan, len(v)))
            rows.append({"cls": "", "cells": cells})
    return table(cols, rows, caption, "numbers")


def figure_arms(df: pd.DataFrame, summ: pd.DataFrame, optimizer: str) -> pd.DataFrame:
    """(schedule, base_lr) pairs to draw for ``optimizer``: the summary's choice per schedule, and
    for a schedule the summary lacks (nothing finished yet) its smallest base LR."""
    present = (df.loc[df["optimizer"] == optimizer, ["schedule", "base_lr"]].drop_duplicates()
               .assign(schedule=lambda x: x["schedule"].astype(str)))
    chosen = (summ.loc[summ["optimizer"] == optimizer, ["schedule", "base_lr"]]
              .assign(schedule=lambda x: x["schedule"].astype(str)) if len(summ)
              else present.iloc[:0])
    rest = present[~present["schedule"].isin(chosen["schedule"])]
    rest = rest.sort_values(["schedule", "base_lr"]).groupby("schedule").head(1)
    return pd.concat([chosen, rest], ignore_index=True)


def figure_sections(df, finals, summ, opts, styles, primary) -> list[dict]:
    """Per optimizer setting: figures (a) convergence + LR, (b) train loss, (c) final per seed,
    each with the table of the numbers it draws. Arms are at the base LR of the summary."""
    out = []
    for i, opt in enumerate(opts):
        arms = figure_arms(df, summ, opt)
        if arms.empty:
            continue
        order = figures._order(arms, styles)
        svg_a, num_a = figures.convergence_figure(df, opt, arms, primary, styles, f"f{i}a")
        svg_b, num_b = figures.train_loss_figure(df, opt, arms, styles, f"f{i}b")
        svg_c, num_c = figures.final_figure(finals, opt, arms, primary, styles, f"f{i}c")
        out.append({"optimizer": opt, "figures": [
            {"id": f"conv-{i}", "svg": Markup(svg_a),
             "title": f"Convergence: validation {primary} and the applied learning rate",
             "caption": (f"Top: validation {primary} after each epoch, mean over the seeds that "
                         "reached that epoch with a 95% t-interval band (diverged runs left out). "
                         "Bottom, same epoch axis: the learning rate applied in each optimizer "
                         "step (log scale) by one run of each arm."),
             "table": _epoch_table(num_a, order, True, f"Numbers behind the figure: validation "
                                   f"{primary} per epoch and the LR in force at the end of it")},
            {"id": f"train-{i}", "svg": Markup(svg_b), "title": "Training loss per epoch",
             "caption": "Mean training loss of each epoch, mean over seeds with a 95% t-interval "
                        "band (diverged runs left out).",
             "table": _epoch_table(num_b, order, False,
                                   "Numbers behind the figure: training loss per epoch")},
            {"id": f"final-{i}", "svg": Markup(svg_c), "title": f"Final {primary} per seed",
             "caption": ("One dot per completed seed, the bar is the mean. Runs that did not "
                         "complete (diverged, failed, running) have no final value and are "
                         "counted under the schedule name."),
             "table": _final_numbers_table(num_c, order, f"Numbers behind the figure: final "
                                           f"{primary} per seed")},
        ]})
    return out


def all_lrs_table(table_: pd.DataFrame, opts, scheds, primary) -> dict:
    """Final results at every base LR tried (the summary picks one LR per arm from these)."""
    t = table_.assign(_o=table_["optimizer"].astype(str).map({o: i for i, o in enumerate(opts)}),
                      _s=table_["schedule"].astype(str).map({s: i for i, s in enumerate(scheds)}))
    rows = []
    for _, r in t.sort_values(["_o", "base_lr", "_s"]).iterrows():
        rows.append({"cls": "", "cells": [
            cell(r["optimizer"], cls="name"), cell(r["schedule"], cls="name"),
            cell(fmt_lr(r["base_lr"]), r["base_lr"], "num"),
            cell(f"{r['n_completed']}/{r['n_runs']}"), cell(str(r["n_diverged"]), r["n_diverged"],
                                                            "num bad" if r["n_diverged"] else "num"),
            pm_cell(r["val_mean"], r["val_std"], r["val_n"]),
            cell(fmt(r["val_ci95"]), r["val_ci95"], "num"),
            pm_cell(r["test_mean"], r["test_std"], r["test_n"]),
            pm_cell(r["train_loss_mean"], r["train_loss_std"], r["train_loss_n"]),
            cell(fmt(r["best_val_epoch_mean"]).rstrip("0").rstrip("."), r["best_val_epoch_mean"],
                 "num"),
        ]})
    cols = ["optimizer", "schedule", "base LR", "completed/runs", "diverged",
            f"final val {primary} mean ± std (n)", "95% CI ±", f"final test {primary}",
            "final train loss", "best val epoch (mean)"]
    return table(cols, rows, "Final results at every base LR (completed runs only)", "numbers")


def status_section(runs: pd.DataFrame, finals: pd.DataFrame) -> dict:
    counts = {s: int((runs["status"].astype(str) == s).sum()) for s in STATUS_ORDER}
    per_arm = stats.status_counts(runs.assign(model=runs["model"].astype(str)),
                                  ["optimizer", "base_lr", "schedule"]) if len(runs) else None
    rows = []
    if per_arm is not None:
        for _, r in per_arm.iterrows():
            rows.append({"cls": "", "cells": [
                cell(r["optimizer"], cls="name"), cell(fmt_lr(r["base_lr"]), r["base_lr"], "num"),
                cell(r["schedule"], cls="name"),
                *[cell(str(r[f"n_{s}"]), r[f"n_{s}"], "num" + (" bad" if s in ("diverged", "failed")
                                                                 and r[f"n_{s}"] else ""))
                  for s in STATUS_ORDER]]})
    arm_table = table(["optimizer", "base LR", "schedule", *STATUS_ORDER], rows,
                      "Runs per arm and status", "numbers")
    steps = finals.set_index("run_key")["diverged_step"] if len(finals) else pd.Series(dtype="Int64")

    def listing(status):
        sel = runs[runs["status"].astype(str) == status]
        out = []
        for _, r in sel.iterrows():
            step = r["diverged_step"]
            if not _finite(step) and r["run_key"] in steps.index:
                step = steps.loc[r["run_key"]]
            out.append({"cls": "", "cells": [
                cell(r["run_key"], cls="mono"), cell(r["optimizer"]), cell(fmt_lr(r["base_lr"]),
                                                                           r["base_lr"], "num"),
                cell(r["schedule"]), cell(str(r["seed"]), r["seed"], "num"),
                cell(f"{r['epochs_done']}/{r['epochs']}" if _finite(r["epochs"])
                     else str(r["epochs_done"])),
                cell(str(int(step)) if _finite(step) else "–", step, "num") if status == "diverged"
                else cell(r["error"] if isinstance(r["error"], str) else (
                    "running or interrupted" if status == "running" else "–")),
            ]})
        return out

    base = ["run", "optimizer", "base LR", "schedule", "seed", "epochs done"]
    lists = [table([*base, "diverged at step"], listing("diverged"), "Diverged runs", "numbers"),
             table([*base, "error"], listing("failed"), "Failed runs", "numbers"),
             table([*base, "note"], listing("running"), "Unfinished runs (no status.json yet)",
                   "numbers")]
    return {"counts": counts, "total": int(len(runs)), "arm_table": arm_table,
            "lists": [t for t in lists if t["rows"]]}


def environment_rows(meta: dict) -> list[tuple[str, str]]:
    keys = [("torch", "torch"), ("cuda", "CUDA"), ("device", "device"),
            ("device_name", "device name"), ("git_commit", "git commit"), ("python", "python"),
            ("platform", "platform")]
    rows = [(label, "–" if meta.get(k) in (None, "") else str(meta.get(k))) for k, label in keys]
    for name, ver in sorted((meta.get("packages") or {}).items()):
        rows.append((f"package {name}", str(ver)))
    return rows


def _train_seconds(df: pd.DataFrame) -> float:
    if df.empty:
        return float("nan")
    return float(df.groupby("run_key", observed=True)["wall_time_s"].max().sum())


def study_context(study_dir: Path, df: pd.DataFrame) -> dict:
    study, meta, cfg = _study_meta(study_dir)
    primary = str(study.get("primary_metric") or cfg.get("primary_metric") or "loss")
    directions = dict(study.get("metric_directions") or cfg.get("metric_directions") or {})
    runs = _runs_for(study_dir, df)
    const = stats.constant_arm(df) if len(df) else None
    scheds, opts = _orders(study, df, const)
    styles = figures.schedule_styles(scheds, const)
    finals = stats.run_finals(df, primary, directions) if len(df) else pd.DataFrame(
        columns=[*stats.RUN, "status", "diverged_step"])
    summ = stats.summary(df, primary, directions) if len(df) else pd.DataFrame()
    table_ = stats.final_table(finals) if len(finals) else pd.DataFrame()
    name = str(study.get("name") or meta.get("study") or cfg.get("study") or study_dir.name)
    return {
        "name": name,
        "dir_name": study_dir.name,
        "description": str(study.get("description") or ""),
        "notes": str(study.get("notes") or ""),
        "budget": str(study.get("budget") or meta.get("budget") or "–"),
        "date": fmt_date(meta.get("finished_at") or meta.get("started_at")),
        "model": str(study.get("model") or cfg.get("model") or "–"),
        "dataset": str(study.get("dataset") or cfg.get("dataset") or "–"),
        "epochs": study.get("epochs", cfg.get("epochs", "–")),
        "seeds": ", ".join(str(s) for s in study.get("seeds", [])) or "–",
        "primary": primary,
        "direction": stats.direction(primary, directions),
        "constant": const,
        "has_records": bool(len(df)),
        "summary": summary_tables(summ, opts, scheds, styles, primary, directions, const)
        if len(summ) else [],
        "sections": figure_sections(df, finals, summ, opts, styles, primary) if len(df) else [],
        "all_lrs": all_lrs_table(table_, opts, scheds, primary) if len(table_) else None,
        "status": status_section(runs, finals),
        "command": str(meta.get("command") or "–"),
        "study_json": json.dumps(study, indent=2, ensure_ascii=False) if study else "(no study.json)",
        "environment": environment_rows(meta),
        "checksums": sorted((str(k), str(v)) for k, v in (meta.get("data_checksums") or {}).items()),
        "wall_time_s": meta.get("wall_time_s"),
        "train_seconds": _train_seconds(df),
        "spec": {"file": meta.get("spec_file") or study.get("file"),
                 "sha256": meta.get("spec_sha256") or study.get("spec_sha256")},
        "version": __version__,
        "n_records": int(len(df)),
    }


def _records_for(study_dir: Path) -> pd.DataFrame:
    p = study_dir / "records.parquet"
    return collect.read_records(p) if p.exists() else collect.collect(study_dir)


def _runs_for(study_dir: Path, df: pd.DataFrame) -> pd.DataFrame:
    """Run statuses from runs/ (also sees runs with no epoch yet), else from the records."""
    if collect.has_runs(study_dir):
        return collect.runs(study_dir)
    r = collect.runs_from_records(df)
    r["status"] = r["status"].astype(pd.CategoricalDtype(list(STATUS_ORDER)))
    return r


def render_study(study_dir, records: pd.DataFrame | None = None) -> Path:
    """Write ``<study_dir>/index.html`` (atomically) and return its path.

    ``records``: the tidy frame; by default ``records.parquet`` when present, else collected."""
    study_dir = Path(study_dir)
    df = _records_for(study_dir) if records is None else records
    ctx = study_context(study_dir, df)
    html = _env().get_template("study.html.j2").render(**ctx)
    out = study_dir / "index.html"
    collect.write_text_atomic(out, html)
    return out


# ---------------------------------------------------------------- index of studies


def study_dirs(out_dir) -> list[Path]:
    """Study output directories under ``out_dir``, sorted by name: those holding ``runs/``, or
    only ``records.parquet`` (a study kept without its run directories)."""
    out_dir = Path(out_dir)
    return sorted(p for p in out_dir.iterdir() if p.is_dir() and not p.name.startswith(".")
                  and ((p / "runs").is_dir() or (p / "records.parquet").is_file()))


def index_entry(study_dir: Path) -> dict:
    study, meta, cfg = _study_meta(study_dir)
    df = _records_for(study_dir)
    primary = str(study.get("primary_metric") or cfg.get("primary_metric") or "loss")
    directions = dict(study.get("metric_directions") or cfg.get("metric_directions") or {})
    runs = _runs_for(study_dir, df)
    const = stats.constant_arm(df) if len(df) else None
    lines = []
    if len(df):
        summ = stats.summary(df, primary, directions)
        _, opts = _orders(study, df, const)
        best_rows = stats.best_per_optimizer(summ)
        if len(best_rows):
            best_rows = best_rows.assign(_o=best_rows["optimizer"].map(opts.index)).sort_values("_o")
        for _, best in best_rows.iterrows():
            s = summ[summ["optimizer"] == best["optimizer"]]
            lines.append(f"{best['optimizer']}: " + headline(best, s, primary, const))
    return {
        "name": str(study.get("name") or meta.get("study") or cfg.get("study") or study_dir.name),
        "href": f"{quote(study_dir.name)}/index.html",
        "description": str(study.get("description") or ""),
        "date": fmt_date(meta.get("finished_at") or meta.get("started_at")),
        "budget": str(study.get("budget") or meta.get("budget") or "–"),
        "counts": {s: int((runs["status"].astype(str) == s).sum()) for s in STATUS_ORDER},
        "headlines": lines,
    }


def render_index(out_dir) -> Path:
    """Write ``<out_dir>/index.html`` listing every study directory, with relative links."""
    out_dir = Path(out_dir)
    entries = [index_entry(d) for d in study_dirs(out_dir)]
    html = _env().get_template("index.html.j2").render(studies=entries, version=__version__,
                                                       statuses=STATUS_ORDER)
    out = out_dir / "index.html"
    collect.write_text_atomic(out, html)
    return out
