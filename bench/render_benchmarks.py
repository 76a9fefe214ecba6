#!/usr/bin/env python3
"""Write docs/benchmarks.md from the JSON results of the scripts in bench/.

    python bench/render_benchmarks.py --output docs/benchmarks.md .cache/bench/*.json

Every input is one benchmark's JSON result (a file, or a directory whose
*.json files are all read). Each result has the common keys

    format      "mailops-authsmtp-bench/1"
    benchmark   short id, e.g. "sasl_user"; one section per id
    title       section heading
    date        ISO 8601 start of the run; optional: finished, duration_s
    smoke       true for a smoke run (refused for docs/benchmarks.md)
    machine     cpu_model, cpu_cores, cpu_cores_usable, memory_mib, os,
                python, python_implementation, packages {name: version},
                load_average_start, load_average_end
    method      free-form dict, shown as "key: value" lines (optional)
    notes       list of sentences (optional)
    targets     list of {id, description, threshold, measured,
                measured_unit, met: true/false/null, reason?} (optional)
    checks      list of {id, description, met, failed} (optional)

and its figures, either in a shape a function registered in SECTIONS below
renders (sasl_user: "cases"), or as pre-formatted generic tables:

    tables      list of {title, columns: [str], rows: [[cell, ...]]}

so a new benchmark can either add a renderer here or emit "tables".
Nothing in the output is written by hand: it is regenerated on every run.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_OUTPUT = os.path.join(REPO, "docs", "benchmarks.md")
FORMAT_PREFIX = "mailops-authsmtp-bench/"
# Sections in this order; unknown benchmarks follow by id.
ORDER = ("sasl_user", "converge", "smtp_throughput")
MACHINE_KEYS = ("cpu_model", "cpu_cores", "cpu_cores_usable", "memory_mib", "os", "python", "python_implementation")


class RenderError(Exception):
    pass


# --------------------------------------------------------------------------
# Formatting
# --------------------------------------------------------------------------


def cell(value):
    text = "–" if value is None else str(value)
    return text.replace("|", "\\|").replace("\n", " ")


def table(columns, rows, align=None):
    align = align or ["---"] * len(columns)
    lines = ["| " + " | ".join(cell(c) for c in columns) + " |", "| " + " | ".join(align) + " |"]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def fmt_seconds(value):
    if value is None:
        return None
    if value >= 100:
        return f"{value:.0f} s"
    if value >= 10:
        return f"{value:.1f} s"
    if value >= 1:
        return f"{value:.2f} s"
    if value >= 0.1:
        return f"{value * 1000:.0f} ms"
    if value >= 0.001:
        return f"{value * 1000:.1f} ms"
    return f"{value * 1e6:.0f} µs"


def fmt_ratio(value):
    if value is None:
        return None
    if value >= 0.1:
        return f"{value:.2f} ×"
    return f"{value:.2g} ×"


def fmt_duration(seconds):
    if seconds is None:
        return None
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes} min"
    if minutes:
        return f"{minutes} min {secs} s"
    return f"{secs} s"


def fmt_met(met):
    return {True: "met", False: "**not met**", None: "not measured"}.get(met, "?")


def fmt_measured(value, unit):
    if value is None:
        return None
    if isinstance(value, float):
        value = f"{value:.3g}"
    return f"{value} {unit}" if unit else str(value)


# --------------------------------------------------------------------------
# Common parts of a section
# --------------------------------------------------------------------------


def machine_lines(machine):
    cores = machine.get("cpu_cores")
    usable = machine.get("cpu_cores_usable")
    if usable is not None and usable != cores:
        cores = f"{cores} ({usable} usable by the benchmark)"
    memory = machine.get("memory_mib")
    packages = machine.get("packages") or {}
    python = machine.get("python")
    if python and machine.get("python_implementation"):
        python = f"{python} ({machine['python_implementation']})"
    rows = [
        ("CPU", machine.get("cpu_model")),
        ("Cores", cores),
        ("Memory", f"{memory / 1024:.1f} GiB" if memory else None),
        ("OS", machine.get("os")),
        ("Python", python),
        ("Packages", ", ".join(f"{name} {version}" for name, version in sorted(packages.items())) or None),
    ]
    return table(["", ""], rows)


def same_machine(results):
    keys = {tuple(result.get("machine", {}).get(k) for k in MACHINE_KEYS) for result in results}
    return len(keys) == 1


def run_lines(result, with_machine):
    lines = []
    when = result.get("date")
    if result.get("finished"):
        when = f"{when} to {result['finished']}"
    duration = fmt_duration(result.get("duration_s"))
    lines.append(f"- Date: {when}" + (f" ({duration})" if duration else ""))
    source = result.get("source")
    if source:
        state = "modified, not committed" if source.get("module_code_modified") else "as committed"
        lines.append(f"- Code: commit `{source.get('commit', '?')[:12]}`, benchmarked code {state}")
    machine = result.get("machine", {})
    load = (machine.get("load_average_start"), machine.get("load_average_end"))
    if all(load):
        lines.append(
            "- Load average (1, 5, 15 min) at start: "
            + ", ".join(map(str, load[0]))
            + "; at end: "
            + ", ".join(map(str, load[1]))
        )
    lines.append(f"- Generated by: `{result.get('generated_by', '?')}`")
    text = "\n".join(lines)
    if with_machine:
        text += "\n\nMachine:\n\n" + machine_lines(machine)
    return text


def targets_table(targets):
    rows = []
    for target in targets:
        measured = fmt_measured(target.get("measured"), target.get("measured_unit"))
        if target.get("met") is None and target.get("reason"):
            measured = target["reason"]
        elif target.get("worst_case") and measured is not None:
            measured += f" (worst: {target['worst_case']})"
        rows.append(
            (target.get("description", target.get("id")), target.get("threshold"), measured, fmt_met(target.get("met")))
        )
    return table(["Target", "Threshold", "Measured", "Result"], rows)


def checks_table(checks):
    rows = []
    for check in checks:
        result = fmt_met(check.get("met"))
        if check.get("failed"):
            result += " (failed: " + ", ".join(check["failed"]) + ")"
        rows.append((check.get("description", check.get("id")), result))
    return table(["Check", "Result"], rows)


def generic_tables(result):
    parts = []
    for entry in result.get("tables", []):
        if entry.get("title"):
            parts.append(f"### {entry['title']}")
        parts.append(table(entry["columns"], entry["rows"]))
    return parts


# --------------------------------------------------------------------------
# sasl_user
# --------------------------------------------------------------------------

SASL_RUNS = (
    ("first", "plaintext", "first run: all added"),
    ("no_change", "plaintext", "no change"),
    ("change", "plaintext", "{changed}"),
    ("hash_no_change", "precomputed hash", "no change"),
    ("hash_change", "precomputed hash", "{changed}"),
)


def changed_label(count, users, pct):
    share = f"{pct:g} %" if abs(count / users * 100 - pct) < 0.5 else f"{pct:g} %, at least one"
    return f"{count:,} changed ({share})"


def sasl_user_section(result):
    method = result.get("method", {})
    pct = method.get("change_percent", 1)
    cost = method.get("cost", {})
    parts = []
    repeat = method.get("repeat")
    samples = method.get("raw_samples")
    cost_text = ", ".join(f"{key} {value}" for key, value in cost.items())
    cost_text += " (the module's defaults)" if method.get("cost_is_module_default") else " (NOT the module's defaults)"
    parts.append(
        "\n".join(
            [
                f"- The module runs **{method.get('invocation', '?')}**: {method.get('invocation_detail', '')}",
                f"- Every figure is the median of {repeat} repetition{'' if repeat == 1 else 's'}; "
                '"each repetition" lists them all.',
                f"- Raw cost: N × one libpass verification of the same scheme (median of {samples} samples taken "
                "right before each repetition). The ratio pairs each run with the raw cost of its own repetition and "
                "reports the median.",
                f"- Hash costs: {cost_text}.",
                f"- Passwd-files in: `{method.get('temp_dir', '?')}`.",
            ]
        )
    )
    if result.get("targets"):
        parts += ["### Targets", targets_table(result["targets"])]

    rows = []
    for case in result.get("cases", []):
        raw = case.get("raw_summary", {})
        for kind, input_kind, label in SASL_RUNS:
            run = case["runs"][kind]
            rows.append(
                (
                    f"{case['users']:,}",
                    case["scheme"],
                    input_kind,
                    label.format(changed=changed_label(case["changed_users"], case["users"], pct)),
                    fmt_seconds(run.get("median_s")),
                    ", ".join(fmt_seconds(s) for s in run.get("seconds", [])),
                    fmt_seconds(raw.get("raw_cost_s_median")),
                    fmt_ratio(run.get("ratio_to_raw_median")),
                    fmt_seconds(run["per_user_ms_median"] / 1000)
                    if run.get("per_user_ms_median") is not None
                    else None,
                    "ok" if run.get("checks_passed") else "**FAILED**",
                )
            )
    parts += [
        "### Runs",
        table(
            [
                "Users",
                "Scheme",
                "Input",
                "Run",
                "Median",
                "Each repetition",
                "Raw cost (N × verify)",
                "Ratio to raw",
                "Per user",
                "Checks",
            ],
            rows,
            ["--:", "---", "---", "---", "--:", "--:", "--:", "--:", "--:", "---"],
        ),
    ]

    rows = []
    for case in result.get("cases", []):
        raw = case.get("raw_summary", {})
        rows.append(
            (
                f"{case['users']:,}",
                case["scheme"],
                fmt_seconds(raw.get("verify_s_median")),
                ", ".join(fmt_seconds(r.get("verify_s")) for r in case.get("raw", [])),
                fmt_seconds(raw.get("hash_s_median")),
                ", ".join(fmt_seconds(r.get("hash_s")) for r in case.get("raw", [])),
            )
        )
    parts += [
        "### One libpass operation (raw cost per user)",
        table(
            ["Users", "Scheme", "Verify, median", "Verify, each repetition", "Hash, median", "Hash, each repetition"],
            rows,
            ["--:", "---", "--:", "--:", "--:", "--:"],
        ),
    ]
    skipped = method.get("skipped") or []
    if skipped:
        parts.append(
            "Not run: " + ", ".join(f"{s['scheme']} with {s['users']:,} users" for s in skipped) + " (see the notes)."
        )
    return parts


SECTIONS = {"sasl_user": sasl_user_section}


# --------------------------------------------------------------------------
# Document
# --------------------------------------------------------------------------


def load(paths):
    files = []
    for path in paths:
        if os.path.isdir(path):
            files += sorted(glob.glob(os.path.join(path, "*.json")))
        else:
            files.append(path)
    if not files:
        raise RenderError("no result files given")
    results = {}
    for path in files:
        try:
            with open(path, encoding="utf-8") as f:
                result = json.load(f)
        except (OSError, ValueError) as exc:
            raise RenderError(f"cannot read {path}: {exc}") from None
        if not isinstance(result, dict) or not str(result.get("format", "")).startswith(FORMAT_PREFIX):
            raise RenderError(f"{path}: not a benchmark result (format {FORMAT_PREFIX}...)")
        for key in ("benchmark", "title", "date", "machine"):
            if key not in result:
                raise RenderError(f"{path}: no {key!r}")
        if result["benchmark"] in results:
            raise RenderError(f"{path}: a second result for benchmark {result['benchmark']!r}")
        results[result["benchmark"]] = result
    rank = {name: index for index, name in enumerate(ORDER)}
    return [results[name] for name in sorted(results, key=lambda name: (rank.get(name, len(ORDER)), name))]


def render(results):
    smoke = [r["benchmark"] for r in results if r.get("smoke")]
    shared = same_machine(results)
    parts = [
        "<!-- Generated by `make bench` (bench/render_benchmarks.py). Do not edit: every run overwrites it. -->",
        "# Benchmarks",
        "This file is generated by `make bench` from the results of the scripts in `bench/` (see "
        "`bench/README.md`); do not edit it by hand. The machine is shared and has few cores, so absolute times "
        "are noisy: figures are medians over repeated runs, and ratios compare measurements taken in the same run.",
    ]
    if smoke:
        parts.append(
            "**SMOKE RUN** (" + ", ".join(smoke) + "): these figures only show that the benchmark scripts work; they "
            "are not measurements."
        )
    if shared:
        parts += ["## Machine", machine_lines(results[0]["machine"])]
    for result in results:
        title = result["title"] + (" — smoke run" if result.get("smoke") else "")
        parts += [f"## {title}", run_lines(result, with_machine=not shared)]
        section = SECTIONS.get(result["benchmark"])
        if section is not None:
            parts += section(result)
        else:
            if result.get("targets"):
                parts += ["### Targets", targets_table(result["targets"])]
            parts += generic_tables(result)
        if result.get("checks"):
            parts += ["### Correctness of the runs", checks_table(result["checks"])]
        if result.get("notes"):
            parts += ["### Notes", "\n".join(f"- {note}" for note in result["notes"])]
    return "\n\n".join(parts) + "\n"


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description="Write docs/benchmarks.md from benchmark JSON results.")
    parser.add_argument("results", nargs="+", metavar="RESULT", help="JSON result file, or a directory of them")
    parser.add_argument(
        "--output", "-o", default=DEFAULT_OUTPUT, help="Markdown file to write (default docs/benchmarks.md)"
    )
    parser.add_argument(
        "--allow-smoke",
        action="store_true",
        help="allow smoke results in docs/benchmarks.md (refused by default: they are not measurements)",
    )
    return parser.parse_args(argv)


def main(argv=None):
    options = parse_args(argv)
    try:
        results = load(options.results)
        smoke = [r["benchmark"] for r in results if r.get("smoke")]
        if smoke and not options.allow_smoke and os.path.realpath(options.output) == os.path.realpath(DEFAULT_OUTPUT):
            raise RenderError(f"refusing to write smoke results ({', '.join(smoke)}) into {DEFAULT_OUTPUT}")
        text = render(results)
    except RenderError as exc:
        print(f"render_benchmarks: error: {exc}", file=sys.stderr)
        return 2
    directory = os.path.dirname(os.path.abspath(options.output))
    os.makedirs(directory, exist_ok=True)
    tmp = f"{options.output}.tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, options.output)
    print(f"render_benchmarks: wrote {options.output} ({', '.join(r['benchmark'] for r in results)})", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
