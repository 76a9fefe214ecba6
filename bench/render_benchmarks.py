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
renders (sasl_user: "cases"; converge: "summary" of converge_bench.py;
smtp_throughput: "summary" and "method" of smtp_bench.py), or as
pre-formatted generic tables:

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


# --------------------------------------------------------------------------
# converge
# --------------------------------------------------------------------------


def fmt_counts(counts):
    if not counts:
        return None
    return " / ".join(
        "–" if counts.get(key) is None else f"{counts[key]:g}" for key in ("tasks", "ok", "changed", "skipped")
    )


def fmt_share(value):
    return None if value is None else f"{value * 100:.0f} %"


def converge_section(result):
    method = result.get("method", {})
    summary = result.get("summary", {})
    variants = method.get("variants", {})
    guest = method.get("guest") or {}
    repeat, reruns = method.get("repeat"), method.get("reruns")
    parts = [
        "\n".join(
            [
                f"- Playbook `{method.get('playbook', '?')}` on a fresh `{method.get('image', '?')}` container"
                + (f" (Debian {guest['debian']})" if guest.get("debian") else "")
                + f", reached over **{method.get('connection', '?')}**; "
                f"{method.get('container', '')}.",
                f"- {repeat} repetition{'' if repeat == 1 else 's'}; each cold variant on its own fresh container, "
                f"then {reruns} idempotent re-run{'' if reruns == 1 else 's'} per variant on the container of the "
                "tuned cold run. Times are wall clock around `ansible-playbook`; medians over the repetitions.",
                "- Tasks: tasks / ok / changed / skipped from the PLAY RECAP (ok includes changed; tasks = ok + "
                "failed + unreachable + skipped), medians over the runs.",
                "- Variants: "
                + "; ".join(f"**{name}**: {spec.get('description', '')}" for name, spec in variants.items())
                + ".",
            ]
        )
    ]
    if result.get("targets"):
        parts += ["### Targets", targets_table(result["targets"])]

    rows = []
    for kind, label in (("cold", "cold"), ("idempotent", "re-run")):
        reference = (summary.get(kind) or {}).get("tuned", {}).get("median_s")
        for name, entry in (summary.get(kind) or {}).items():
            rows.append(
                (
                    name,
                    label,
                    fmt_seconds(entry.get("median_s")),
                    ", ".join(fmt_seconds(s) for s in entry.get("seconds", [])),
                    fmt_counts(entry.get("counts_median")),
                    fmt_ratio(entry["median_s"] / reference) if reference and entry.get("median_s") else None,
                )
            )
    parts += [
        "### Wall time",
        table(
            ["Variant", "Run", "Median", "Each run", "Tasks / ok / changed / skipped", "÷ tuned (medians)"],
            rows,
            ["---", "---", "--:", "--:", "--:", "--:"],
        ),
    ]
    pairs = summary.get("idempotent_to_cold") or {}
    if pairs.get("per_repetition"):
        parts.append(
            "Re-run ÷ cold (tuned), per repetition: "
            + ", ".join(fmt_ratio(r) for r in pairs["per_repetition"])
            + f"; median {fmt_ratio(pairs.get('median'))}."
        )
    rows = [
        (
            entry.get("variant"),
            "cold" if entry.get("kind") == "cold" else "re-run",
            entry.get("description"),
            fmt_ratio(entry.get("ratio_median")),
            ", ".join(fmt_ratio(r) for r in entry.get("ratio_per_repetition", [])),
        )
        for entry in summary.get("before_after", [])
    ]
    if rows:
        parts += [
            "### Before/after: each variant ÷ tuned",
            "Each ratio pairs a variant with the tuned run of the same repetition; above 1 means the variant is "
            "slower, i.e. the tuning it lacks saves time.",
            table(
                ["Variant", "Run", "What differs from tuned", "Ratio (median)", "Each repetition"],
                rows,
                ["---", "---", "---", "--:", "--:"],
            ),
        ]
    for kind, label in (("cold", "cold converge"), ("idempotent", "idempotent re-run")):
        tasks = (summary.get("slowest_tasks") or {}).get(kind) or []
        if not tasks:
            continue
        rows = [
            (
                index,
                task["name"],
                fmt_seconds(task.get("median_s")),
                fmt_share(task.get("share_median")),
                ", ".join(fmt_seconds(s) for s in task.get("seconds", [])),
            )
            for index, task in enumerate(tasks, 1)
        ]
        parts += [
            f"### Slowest tasks, {label} (tuned, profile_tasks)",
            table(["#", "Task", "Median", "Share of the run", "Each run"], rows, ["--:", "---", "--:", "--:", "--:"]),
        ]
    by_role = summary.get("time_by_role") or {}
    roles = []
    for kind in ("cold", "idempotent"):
        for entry in by_role.get(kind) or []:
            if entry["role"] not in roles:
                roles.append(entry["role"])
    if roles:
        lookup = {kind: {e["role"]: e for e in by_role.get(kind) or []} for kind in ("cold", "idempotent")}
        rows = [
            (
                role,
                fmt_seconds(lookup["cold"].get(role, {}).get("median_s")),
                fmt_seconds(lookup["idempotent"].get(role, {}).get("median_s")),
            )
            for role in roles
        ]
        parts += [
            "### Time by role (tuned; the sum of its tasks' profile_tasks times)",
            table(["Role", "Cold", "Re-run"], rows, ["---", "--:", "--:"]),
        ]
    return parts


# --------------------------------------------------------------------------
# smtp_throughput
# --------------------------------------------------------------------------


def fmt_ms(value):
    return None if value is None else fmt_seconds(value / 1000)


def fmt_rate(value):
    if value is None:
        return None
    return f"{value:.1f}" if value < 100 else f"{value:.0f}"


def verification_parts(entries):
    """The password hash's cost in Dovecot and the AUTH rate it leaves one auth process."""
    if not entries:
        return []
    rows = [
        (
            f"{e.get('scheme')}, {e.get('rounds'):,} rounds",
            fmt_ms(e.get("verify_ms_median")),
            ", ".join(fmt_ms(v) for v in e.get("samples_ms", [])),
            fmt_rate(e.get("auth_ceiling_per_s")),
            ", ".join(e.get("variants", [])) or "–",
            f"{fmt_rate(e.get('best_messages_per_s'))} ({e.get('best_case')})"
            if e.get("best_messages_per_s") is not None
            else "–",
            fmt_share(e.get("best_share_of_ceiling")),
        )
        for e in entries
    ]
    return [
        "### The password hash sets the ceiling",
        "Dovecot 2.3's passwd-file passdb verifies the password of every AUTH in its one auth process "
        "(the auth service is limited to one process; passwd-file lookups are neither cached nor handed to "
        "auth-worker processes), so one verification's time bounds the AUTH rate, whatever Postfix does. "
        f"Measured with {entries[0].get('how', '')}. The bound is an estimate (its own timing is noisy): a best "
        "rate near 100 % of it, or a little above, means the auth process was saturated.",
        table(
            [
                "Hashes",
                "One verification",
                "Each batch",
                "AUTH/s at most",
                "Configurations with these hashes",
                "Best msg/s measured",
                "Share of the ceiling",
            ],
            rows,
            ["---", "--:", "--:", "--:", "---", "--:", "--:"],
        ),
    ]


def smtp_throughput_section(result):
    method = result.get("method", {})
    targets = method.get("targets", {})
    variants = method.get("variants", {})
    guest = method.get("guest") or {}
    repeat = method.get("repeat")
    server, stock = guest.get("server") or {}, guest.get("stock") or {}
    versions = []
    if server:
        versions.append(
            f"server: Debian {server.get('debian', '?')}, Postfix {server.get('postfix', '?')}, "
            f"Dovecot {server.get('dovecot-core', '?')}, OpenSSL {server.get('openssl', '?')}"
        )
    if stock:
        versions.append(f"stock: Debian {stock.get('debian', '?')}, Postfix {stock.get('postfix', '?')}")
    lines = [
        "- Targets: " + "; ".join(f"**{key}**: {spec.get('label', key)}" for key, spec in targets.items()) + ".",
        f"- {repeat} repetition{'' if repeat == 1 else 's'}; each point: {method.get('warmup_s')} s warm-up, then "
        f"{method.get('duration_s')} s measured. Connections: {', '.join(map(str, method.get('concurrency', [])))} "
        f"for the baseline and {', '.join(method.get('full_grid_variants', []))}; "
        f"{', '.join(map(str, method.get('tuning_concurrency', [])))} for each single tuning.",
        "- Figures are medians over the repetitions; ratios are medians of per-repetition ratios.",
    ]
    if versions:
        lines.append("- Versions: " + "; ".join(versions) + ".")
    if guest.get("smoke"):
        lines.append(f"- {guest['smoke']}.")
    parts = ["\n".join(lines)]
    if result.get("targets"):
        parts += ["### Targets", targets_table(result["targets"])]
    parts += verification_parts(method.get("password_verification") or [])

    rows = []
    for row in result.get("summary", []):
        if row["variant"] not in ("stock", "untuned", "all"):
            continue
        rows.append(
            (
                row["variant"],
                row["target"],
                row["concurrency"],
                fmt_rate(row.get("messages_per_s_median")),
                ", ".join(fmt_rate(v) for v in row.get("messages_per_s", [])),
                fmt_ratio(row.get("ratio_to_stock_median")) if row["target"] != "stock25" else "1 (baseline)",
                fmt_ms(row.get("auth_p50_ms")),
                fmt_ms(row.get("auth_p95_ms")),
                fmt_ms(row.get("total_p50_ms")),
                fmt_ms(row.get("total_p95_ms")),
                row.get("errors"),
            )
        )
    parts += [
        "### Messages per second and latency",
        "AUTH: from sending AUTH PLAIN to the 235. Submission: from the TCP connect to the 250 for the message "
        "(one message per connection).",
        table(
            [
                "Configuration",
                "Target",
                "Connections",
                "msg/s",
                "Each repetition",
                "÷ stock",
                "AUTH p50",
                "AUTH p95",
                "Submission p50",
                "Submission p95",
                "Errors",
            ],
            rows,
            ["---", "---", "--:", "--:", "--:", "--:", "--:", "--:", "--:", "--:", "--:"],
        ),
    ]
    rows = []
    for row in result.get("summary", []):
        if row["variant"] in ("stock", "untuned"):
            continue
        rows.append(
            (
                row["variant"],
                row["target"],
                row["concurrency"],
                fmt_rate(row.get("messages_per_s_median")),
                fmt_ratio(row.get("ratio_to_untuned_median")),
                fmt_ratio(row.get("ratio_to_stock_median")),
                fmt_ms(row.get("auth_p50_ms")),
                fmt_ms(row.get("total_p50_ms")),
                fmt_share(row.get("tls_resumed_share")),
                row.get("errors"),
            )
        )
    if rows:
        parts += [
            "### Effect of each tuning",
            "Each tuning alone, against the untuned server in the same repetition (÷ untuned above 1: faster).",
            table(
                [
                    "Tuning",
                    "Target",
                    "Connections",
                    "msg/s",
                    "÷ untuned",
                    "÷ stock",
                    "AUTH p50",
                    "Submission p50",
                    "TLS resumed",
                    "Errors",
                ],
                rows,
                ["---", "---", "--:", "--:", "--:", "--:", "--:", "--:", "--:", "--:"],
            ),
        ]
    if variants:
        parts += [
            "### Tunings",
            "\n".join(
                f"- **{name}**: {spec.get('description', '')} ({spec.get('how', '')})."
                for name, spec in variants.items()
            ),
        ]
    return parts


SECTIONS = {
    "sasl_user": sasl_user_section,
    "converge": converge_section,
    "smtp_throughput": smtp_throughput_section,
}


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
        title = result["title"] + (
            " — smoke run" if result.get("smoke") else " — quick run" if result.get("quick") else ""
        )
        parts += [f"## {title}", run_lines(result, with_machine=not shared)]
        section = SECTIONS.get(result["benchmark"])
        if section is not None:
            parts += section(result)
            parts += generic_tables(result)
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
