"""The README's quick-start inventory works as the README says.

The inventory is the fenced YAML block right after the line
``<!-- quickstart inventory -->`` in README.md. It must parse with
ansible-inventory, connect as root without become, and its variables must
pass every role's input checks: the server role's ``tasks_from: validate``
runs for its host, on this machine with connection local, with the vault
variable the quick start refers to given on the command line.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[3]
README = ROOT / "README.md"
MARKER = "<!-- quickstart inventory -->"
BIN = Path(sys.executable).parent
ANSIBLE_PLAYBOOK = BIN / "ansible-playbook"
ANSIBLE_INVENTORY = BIN / "ansible-inventory"

# What the quick start's vault file holds; any non-empty passwords will do.
VAULT = {"vault_passwords": {"alice": "correct horse battery staple", "bob": "another long passphrase"}}

# All the input checks of the server role, and nothing that touches a host.
VALIDATE_PLAYBOOK = """\
- name: Check the quick start's inputs as site.yml would, before any change
  hosts: smtp_servers
  gather_facts: false
  tasks:
    - name: Every role's input checks
      ansible.builtin.include_role:
        name: mailops.authsmtp.server
        tasks_from: validate
"""

pytestmark = pytest.mark.skipif(
    not (ANSIBLE_PLAYBOOK.exists() and ANSIBLE_INVENTORY.exists()),
    reason="ansible-playbook and ansible-inventory are not next to this Python",
)


def quickstart_inventory(text: str) -> str:
    """The fenced YAML block that follows the marker line."""
    _before, marker, rest = text.partition(MARKER)
    assert marker, f"README.md has no line {MARKER}"
    match = re.match(r"\s*```ya?ml\n(.*?)\n```", rest, re.DOTALL)
    assert match, f"no ```yaml block right after {MARKER} in README.md"
    return match.group(1) + "\n"


@pytest.fixture(scope="module")
def inventory(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("quickstart") / "hosts.yml"
    path.write_text(quickstart_inventory(README.read_text(encoding="utf-8")))
    return path


@pytest.fixture(scope="module")
def hostvars(inventory, run_ansible) -> dict:
    """ansible-inventory's view: host name -> its variables, groups merged in."""
    result = run_ansible("-i", str(inventory), "--list", cwd=inventory.parent, command="ansible-inventory")
    assert result.returncode == 0, result.output
    listing = json.loads(result.stdout)
    assert listing["smtp_servers"]["hosts"], "the quick start puts no host into smtp_servers"
    return {host: listing["_meta"]["hostvars"].get(host, {}) for host in listing["smtp_servers"]["hosts"]}


def test_the_block_is_yaml_with_the_group_site_yml_runs_on():
    data = yaml.safe_load(quickstart_inventory(README.read_text(encoding="utf-8")))
    assert set(data) == {"smtp_servers"}


def test_it_connects_as_root_without_become(hostvars):
    for host, variables in hostvars.items():
        assert variables.get("ansible_user") == "root", host
        assert "ansible_become" not in variables, host
        assert not any(name.startswith("ansible_become") for name in variables), host


def test_its_variables_pass_every_roles_input_checks(inventory, hostvars, run_ansible):
    playbook = inventory.parent / "validate.yml"
    playbook.write_text(VALIDATE_PLAYBOOK)
    vault = inventory.parent / "vault.yml"
    vault.write_text(yaml.safe_dump(VAULT))
    result = run_ansible(
        "-i",
        str(inventory),
        "-e",
        "ansible_connection=local",
        "-e",
        f"ansible_python_interpreter={sys.executable}",
        "-e",
        f"@{vault}",
        str(playbook),
        cwd=inventory.parent,
    )
    output = result.output
    assert result.returncode == 0, output
    for host in hostvars:
        assert re.search(rf"^{re.escape(host)}\s*:.*\bfailed=0\b", output, re.MULTILINE), output
    # The checks really ran: one argument-spec validation per role.
    assert len(re.findall(r"Check the variables against the role's argument spec", output)) >= 4, output
