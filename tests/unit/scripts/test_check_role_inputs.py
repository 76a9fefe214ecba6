"""scripts/check_role_inputs.py: each rule, on small fake roles in tmp_path."""

from __future__ import annotations

import check_role_inputs
import pytest

PORT = {"type": "int", "default": 587, "description": "Port of the submission service."}
HOSTNAME = {"type": "str", "required": True, "description": "Fully qualified name of the host."}

CLEAN_DEFAULTS = """
    ---
    # Fully qualified name of the host. Required. Example: mx1.example.org
    # authsmtp_hostname:

    # Port of the submission service.
    authsmtp_submission_port: 587

    # Where the files go.
    authsmtp_x_dir: /etc/x

    # Below authsmtp_x_dir. Example: /srv/x/key
    authsmtp_x_key: "{{ authsmtp_x_dir }}/key"
"""
CLEAN_OPTIONS = {
    "authsmtp_hostname": HOSTNAME,
    "authsmtp_submission_port": PORT,
    "authsmtp_x_dir": {"type": "path", "default": "/etc/x", "description": "Where the files go."},
    "authsmtp_x_key": {"type": "path", "description": "Key file. Defaults to C(key) under I(authsmtp_x_dir)."},
}


def problems(root):
    return check_role_inputs.check(root)


def only(root):
    found = problems(root)
    assert len(found) == 1, found
    return found[0]


def test_a_clean_role_has_no_problem(tmp_path, make_role):
    make_role("x", CLEAN_OPTIONS, CLEAN_DEFAULTS)
    assert problems(tmp_path) == []


def test_main_prints_one_line_per_problem_and_exits_1(tmp_path, make_role, capsys):
    make_role(
        "x",
        {"authsmtp_a": {"type": "int", "default": 1}, "authsmtp_b": {"type": "int", "default": 2}},
        "---\n# A.\nauthsmtp_a: 1\n",
    )
    make_role("y", CLEAN_OPTIONS, CLEAN_DEFAULTS)
    assert check_role_inputs.main(["--root", str(tmp_path)]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert lines == [
        "x: authsmtp_b: optional, but defaults/main.yml does not set it; "
        "fix: set it in roles/x/defaults/main.yml to 2, with a comment"
    ]


def test_main_exits_0_on_a_clean_tree(tmp_path, make_role, capsys):
    make_role("x", CLEAN_OPTIONS, CLEAN_DEFAULTS)
    assert check_role_inputs.main(["--root", str(tmp_path)]) == 0
    assert capsys.readouterr().out == ""


# a. optional without a default, required with one


def test_a_optional_variable_missing_from_defaults(tmp_path, make_role):
    make_role("x", {"authsmtp_x_opt": {"type": "str", "description": "Something."}}, "---\n")
    line = only(tmp_path)
    assert line.startswith("x: authsmtp_x_opt: optional, but defaults/main.yml does not set it")
    assert "or mark it required: true" in line


def test_a_required_variable_set_in_defaults(tmp_path, make_role):
    make_role("x", {"authsmtp_hostname": HOSTNAME}, "---\n# The host.\nauthsmtp_hostname: mx1.example.org\n")
    line = only(tmp_path)
    assert line.startswith("x: authsmtp_hostname: required, yet set in defaults/main.yml")
    assert "# authsmtp_hostname:" in line


def test_a_required_variable_must_be_documented_as_a_comment(tmp_path, make_role):
    make_role("x", {"authsmtp_hostname": HOSTNAME}, "---\n# Something else.\n")
    assert only(tmp_path).startswith("x: authsmtp_hostname: required, but defaults/main.yml does not document it")


def test_a_role_without_defaults_file(tmp_path, make_role):
    make_role("x", {"authsmtp_hostname": HOSTNAME, "authsmtp_submission_port": PORT})
    found = problems(tmp_path)
    assert [p.split(":")[1].strip() for p in found] == ["authsmtp_hostname", "authsmtp_submission_port"]


def test_a_other_entry_points_are_checked_too(tmp_path, make_role):
    make_role("x", {}, "---\n", entry_points={"cleanup": {"authsmtp_x_keep": {"type": "int", "default": 2}}})
    assert only(tmp_path).startswith("x: authsmtp_x_keep (entry point cleanup): optional, but defaults/main.yml")


# b. in defaults, not in the spec


def test_b_default_not_in_spec(tmp_path, make_role):
    make_role("x", {}, "---\n# Left over.\nauthsmtp_x_old: 1\n")
    line = only(tmp_path)
    assert line.startswith("x: authsmtp_x_old: set in defaults/main.yml but not in meta/argument_specs.yml")


def test_b_a_variable_of_another_entry_point_counts_as_declared(tmp_path, make_role):
    make_role(
        "x",
        {},
        "---\n# Kept.\nauthsmtp_x_keep: 2\n",
        entry_points={"cleanup": {"authsmtp_x_keep": {"type": "int", "default": 2}}},
    )
    assert problems(tmp_path) == []


# c. spec default differs from defaults/main.yml


@pytest.mark.parametrize(
    ("spec_default", "value", "shown"),
    [
        (587, "588", "says default: 587, defaults/main.yml says 588"),
        (587, '"587"', "says default: 587, defaults/main.yml says '587'"),
        (True, "1", "says default: true, defaults/main.yml says 1"),
        (["plain", "login"], "[login, plain]", "says default: [plain, login], defaults/main.yml says [login, plain]"),
        ({"a": 1}, "{a: 2}", "says default: {a: 1}, defaults/main.yml says {a: 2}"),
    ],
)
def test_c_spec_default_differs(tmp_path, make_role, spec_default, value, shown):
    make_role("x", {"authsmtp_x_v": {"type": "raw", "default": spec_default}}, f"---\n# V.\nauthsmtp_x_v: {value}\n")
    line = only(tmp_path)
    assert line.startswith("x: authsmtp_x_v: meta/argument_specs.yml " + shown)
    assert line.endswith("fix: make them the same value")


def test_c_same_data_written_differently_is_the_same(tmp_path, make_role):
    make_role(
        "x",
        {
            "authsmtp_x_l": {"type": "list", "default": ["plain", "login"]},
            "authsmtp_x_s": {"type": "str", "default": ""},
        },
        "---\n# L.\nauthsmtp_x_l:\n  - plain\n  - login\n# S.\nauthsmtp_x_s: ''\n",
    )
    assert problems(tmp_path) == []


def test_c_templated_default_must_not_be_in_the_spec(tmp_path, make_role):
    make_role(
        "x",
        {"authsmtp_x_k": {"type": "path", "default": "/etc/x/key", "description": "Defaults to key."}},
        '---\n# K.\nauthsmtp_x_k: "{{ authsmtp_x_dir }}/key"\n',
    )
    line = only(tmp_path)
    assert "gives a template" in line
    assert "remove default: from the spec" in line


def test_c_templated_default_is_explained_in_the_description(tmp_path, make_role):
    make_role(
        "x",
        {"authsmtp_x_k": {"type": "path", "description": ["Key file on the host."]}},
        '---\n# K.\nauthsmtp_x_k: "{{ authsmtp_x_dir }}/key"\n',
    )
    assert "does not say what it defaults to" in only(tmp_path)


def test_c_a_template_inside_a_list_counts(tmp_path, make_role):
    make_role(
        "x",
        {"authsmtp_x_l": {"type": "list", "default": ["a"]}},
        '---\n# L.\nauthsmtp_x_l: ["{{ inventory_hostname }}"]\n',
    )
    assert "gives a template" in only(tmp_path)


# d. no default in the spec although defaults/main.yml has one; default while required


def test_d_spec_lacks_the_plain_default(tmp_path, make_role):
    make_role("x", {"authsmtp_x_n": {"type": "int"}}, "---\n# N.\nauthsmtp_x_n: 5\n")
    line = only(tmp_path)
    assert line == (
        "x: authsmtp_x_n: meta/argument_specs.yml has no default: but defaults/main.yml sets 5; "
        "fix: add default: 5 to the spec"
    )


def test_d_required_with_a_default(tmp_path, make_role):
    make_role("x", {"authsmtp_hostname": dict(HOSTNAME, default="localhost")}, "---\n# Host.\n# authsmtp_hostname:\n")
    assert only(tmp_path).startswith("x: authsmtp_hostname: required in meta/argument_specs.yml but has default:")


def test_d_required_suboption_with_a_default(tmp_path, make_role):
    users = {
        "type": "list",
        "elements": "dict",
        "default": [],
        "options": {"name": {"type": "str", "required": True, "default": "x"}},
    }
    make_role("x", {"authsmtp_users": users}, "---\n# Users.\nauthsmtp_users: []\n")
    assert only(tmp_path).startswith("x: authsmtp_users.name: required in meta/argument_specs.yml but has default:")


# e. one variable, one default across roles


def test_e_roles_disagree_on_a_shared_default(tmp_path, make_role):
    make_role("postfix", {"authsmtp_submission_port": PORT}, "---\n# Port.\nauthsmtp_submission_port: 587\n")
    make_role(
        "fail2ban",
        {"authsmtp_submission_port": dict(PORT, default=588)},
        "---\n# Port.\nauthsmtp_submission_port: 588\n",
    )
    assert only(tmp_path) == (
        "fail2ban/postfix: authsmtp_submission_port: defaults/main.yml values differ (fail2ban: 588, postfix: 587); "
        "fix: give it the same default in every role (one fact, one value)"
    )


def test_e_roles_that_agree_are_fine(tmp_path, make_role):
    for name in ("postfix", "fail2ban", "verify"):
        make_role(name, {"authsmtp_submission_port": PORT}, "---\n# Port.\nauthsmtp_submission_port: 587\n")
    assert problems(tmp_path) == []


# f. | default( on a public variable


def test_f_default_filter_on_public_variables(tmp_path, make_role):
    make_role(
        "x",
        {},
        "---\n",
        files={
            "tasks/main.yml": """
                ---
                - name: A
                  ansible.builtin.debug:
                    msg: "{{ authsmtp_x_a | default(1) }}"
                  when: __authsmtp_internal | default(false)
                - name: B
                  ansible.builtin.debug:
                    msg: "{{ authsmtp_x_b|d('') }} {{ authsmtp_x_c.user | default('') }}"
            """,
            "templates/x.conf.j2": "a\nport = {{ authsmtp_x_port\n   | default(587) }}\n",
            "molecule/default/converge.yml": "{{ authsmtp_x_m | default(1) }}\n",
        },
    )
    found = problems(tmp_path)
    assert [p.split(": fix:")[0].split(":")[0:3] for p in found] == [
        ["roles/x/tasks/main.yml", "4", " authsmtp_x_a"],
        ["roles/x/tasks/main.yml", "8", " authsmtp_x_b"],
        ["roles/x/templates/x.conf.j2", "2", " authsmtp_x_port"],
    ]
    assert found[0].endswith("fix: set authsmtp_x_a in roles/x/defaults/main.yml (and its spec) and drop the default")
    assert "'authsmtp_x_port | default(...)'" in found[2]


def test_f_variable_already_in_the_role_defaults(tmp_path, make_role):
    make_role(
        "x",
        {"authsmtp_x_pass": {"type": "str", "default": ""}},
        "---\n# Pass.\nauthsmtp_x_pass: ''\n",
        files={"tasks/main.yml": "---\n# {{ authsmtp_x_pass | default(omit, true) }}\n"},
    )
    assert "already sets it" in only(tmp_path)


def test_f_playbooks_and_templates_are_scanned_but_not_tests_or_bench(tmp_path):
    for rel in ("playbooks/site.yml", "templates/client/a.j2", "tests/x.yml", "bench/x.yml", "playbooks/tests/x.yml"):
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text('x: "{{ authsmtp_submission_port | default(587) }}"\n')
    found = problems(tmp_path)
    assert [p.split(":")[0] for p in found] == ["playbooks/site.yml", "templates/client/a.j2"]
    assert "give authsmtp_submission_port one default" in found[0]


# every variable of defaults/main.yml has a comment directly above it


@pytest.mark.parametrize(
    "defaults",
    [
        "authsmtp_x_a: 1\n",
        "---\nauthsmtp_x_a: 1\n",
        "---\n# A section header.\n\nauthsmtp_x_a: 1\n",
        "---\n# B.\nauthsmtp_x_b: 2\n\nauthsmtp_x_a: 1\n",
    ],
)
def test_defaults_without_comment(tmp_path, make_role, defaults):
    options = {"authsmtp_x_a": {"type": "int", "default": 1}, "authsmtp_x_b": {"type": "raw", "default": 2}}
    if "authsmtp_x_b" in defaults:
        options["authsmtp_x_b"]["default"] = [2] if "- 2" in defaults else 2
    else:
        del options["authsmtp_x_b"]
    make_role("x", options, defaults)
    line = only(tmp_path)
    assert line.startswith("x: authsmtp_x_a: defaults/main.yml line")
    assert "has no comment directly above it" in line


@pytest.mark.parametrize(
    "defaults",
    ["---\n# Both.\nauthsmtp_x_b: 2\nauthsmtp_x_a: 1\n", "---\n# Both.\nauthsmtp_x_b:\n  - 2\nauthsmtp_x_a: 1\n"],
)
def test_variables_that_belong_together_share_a_comment(tmp_path, make_role, defaults):
    default_b = [2] if "- 2" in defaults else 2
    options = {"authsmtp_x_a": {"type": "int", "default": 1}, "authsmtp_x_b": {"type": "raw", "default": default_b}}
    make_role("x", options, defaults)
    assert problems(tmp_path) == []


# roles without a usable spec


def test_role_without_argument_specs(tmp_path, make_role):
    make_role("x", None, "---\n")
    assert only(tmp_path) == "x: the role has no meta/argument_specs.yml; fix: add one with entry point main"


def test_role_without_main_entry_point(tmp_path, make_role):
    role = make_role("x", {}, "---\n")
    (role / "meta" / "argument_specs.yml").write_text("---\nargument_specs:\n  other:\n    options: {}\n")
    assert "has no entry point main" in only(tmp_path)


def test_broken_yaml_is_one_line(tmp_path, make_role):
    make_role("x", {}, "---\n# A.\nauthsmtp_x_a: [1\n")
    line = only(tmp_path)
    assert line.startswith("x: defaults/main.yml cannot be read (")
    assert "\n" not in line
