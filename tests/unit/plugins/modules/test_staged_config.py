"""The staged_config module's main(), run in-process against files in tmp_path.

Each behaviour is run the way community.crypto's integration tests run theirs where it matters: check mode,
apply, check mode again and apply again must then report no change.
"""

from __future__ import annotations

import json
import os
import stat

import pytest
from ansible.module_utils.testing import patch_module_args
from ansible_collections.mailops.authsmtp.plugins.modules import staged_config

# A checker that refuses any staged main.cf containing the word "bad", and
# one that accepts but warns on standard error.
REFUSE_BAD = "sh -c 'if grep -q bad {staging}/main.cf; then echo \"main.cf: bad value\" >&2; exit 1; fi'"
WARN = "sh -c 'echo \"warning: unused parameter\" >&2'"


@pytest.fixture
def root(tmp_path):
    path = tmp_path / "etc"
    (path / "sub").mkdir(parents=True)
    return path


@pytest.fixture
def args(root, tmp_path, current_ids):
    owner, group = current_ids
    return dict(
        root=str(root),
        staging_dir=str(tmp_path / "staging"),
        owner=owner,
        group=group,
        mode="0644",
        files=[dict(path="main.cf", content="a = 1\n"), dict(path="sub/table", content="x y\n", mode="0640")],
        check=[REFUSE_BAD],
    )


def run(capsys, module_args, check_mode=False, diff=False):
    """Run main() like Ansible; return (exit code, result)."""
    module_args = dict(module_args, _ansible_check_mode=check_mode, _ansible_diff=diff)
    with patch_module_args(module_args), pytest.raises(SystemExit) as exc:
        staged_config.main()
    return exc.value.code, json.loads(capsys.readouterr().out)


def mode_of(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def test_new_files_go_live_checked_then_nothing_changes(capsys, args, root):
    code, result = run(capsys, args, check_mode=True, diff=True)
    assert code == 0 and result["changed"] and not result["checked"]
    assert not (root / "main.cf").exists(), "check mode wrote a file"
    assert [d["after"] for d in result["diff"]] == ["a = 1\n", "x y\n"]

    code, result = run(capsys, args)
    assert code == 0 and result["changed"] and result["checked"]
    assert (root / "main.cf").read_text() == "a = 1\n"
    assert mode_of(root / "main.cf") == 0o644 and mode_of(root / "sub" / "table") == 0o640

    for check_mode in (True, False):
        code, result = run(capsys, args, check_mode=check_mode)
        assert code == 0 and not result["changed"] and not result["checked"], result


def test_a_refused_set_never_goes_live_and_is_refused_again(capsys, args, root, tmp_path):
    run(capsys, args)
    bad = dict(args, files=[dict(path="main.cf", content="a = bad\n"), args["files"][1]])
    for _run in range(2):
        code, result = run(capsys, bad)
        assert code == 1 and result["failed"]
        assert "main.cf: bad value" in result["msg"] and "exited with 1" in result["msg"]
        assert str(tmp_path / "staging") in result["msg"]
        assert (root / "main.cf").read_text() == "a = 1\n", "a refused file went live"
    assert (tmp_path / "staging" / "main.cf").read_text() == "a = bad\n", "the rejected file is kept to read"


def test_a_warning_on_stderr_refuses_unless_ignored(capsys, args, root):
    warn = dict(args, check=[WARN])
    code, result = run(capsys, warn)
    assert code == 1 and "warned: warning: unused parameter" in result["msg"]
    assert not (root / "main.cf").exists()
    code, result = run(capsys, dict(warn, check_stderr="ignore"))
    assert code == 0 and result["changed"]


def test_hand_edits_of_content_and_mode_are_put_back(capsys, args, root):
    run(capsys, args)
    (root / "main.cf").write_text("a = 1\n# edited by hand\n")
    os.chmod(root / "sub" / "table", 0o600)
    code, result = run(capsys, args, check_mode=True, diff=True)
    assert result["changed"] and sorted(result["changed_files"]) == [str(root / "main.cf"), str(root / "sub/table")]
    attributes = [d for d in result["diff"] if d["before_header"].endswith("(owner, group, mode)")]
    assert "mode 0600" in attributes[0]["before"] and "mode 0640" in attributes[0]["after"]
    code, result = run(capsys, args)
    assert code == 0 and result["changed"] and result["checked"]
    assert (root / "main.cf").read_text() == "a = 1\n" and mode_of(root / "sub" / "table") == 0o640
    code, result = run(capsys, args)
    assert not result["changed"]


def test_only_the_differing_files_are_written(capsys, args, root):
    run(capsys, args)
    before = os.stat(root / "sub" / "table").st_ino
    code, result = run(capsys, dict(args, files=[dict(path="main.cf", content="a = 2\n"), args["files"][1]]))
    assert result["changed_files"] == [str(root / "main.cf")]
    assert os.stat(root / "sub" / "table").st_ino == before


def test_the_checker_sees_a_copy_of_the_whole_root(capsys, args, root):
    (root / "other.conf").write_text("kept\n")
    needs_other = "sh -c 'test -f {staging}/other.conf && test -f {staging}/sub/table'"
    code, result = run(capsys, dict(args, check=[needs_other]))
    assert code == 1, "without stage_copy_of_root the rest of root is not staged"
    code, result = run(capsys, dict(args, check=[needs_other], stage_copy_of_root=True))
    assert code == 0 and result["changed"]


def test_links_in_root_are_staged_as_what_they_point_to(capsys, args, root, tmp_path):
    outside = tmp_path / "elsewhere"
    outside.write_text("shipped\n")
    os.symlink(outside, root / "makedefs.out")
    os.symlink(tmp_path / "gone", root / "dangling")
    no_link = "sh -c 'test ! -L {staging}/makedefs.out && grep -q shipped {staging}/makedefs.out'"
    code, result = run(capsys, dict(args, check=[no_link], stage_copy_of_root=True))
    assert code == 0 and result["changed"]
    assert os.path.islink(root / "makedefs.out"), "the live link is left alone"


@pytest.mark.parametrize(
    "change, message",
    [
        (dict(files=[dict(path="/etc/passwd", content="")]), "must be a relative path below root"),
        (dict(files=[dict(path="../x", content="")]), "must be a relative path below root"),
        (dict(files=[dict(path="a", content=""), dict(path="./a", content="")]), "is listed twice"),
        (dict(mode="u=rw"), "is not an octal mode"),
        (dict(owner="no-such-user-authsmtp"), "owner 'no-such-user-authsmtp' does not exist"),
        (dict(check=[" "]), "check[0] is empty"),
    ],
)
def test_bad_input_fails_before_anything_changes(capsys, args, root, change, message):
    code, result = run(capsys, dict(args, **change))
    assert code == 1 and message in result["msg"]
    assert list(root.iterdir()) == [root / "sub"]


def test_staging_inside_root_is_refused(capsys, args, root):
    code, result = run(capsys, dict(args, staging_dir=str(root / "staging")))
    assert code == 1 and "is inside root" in result["msg"]


def test_a_missing_root_says_what_to_do(capsys, args, tmp_path):
    code, result = run(capsys, dict(args, root=str(tmp_path / "no-daemon")))
    assert code == 1 and "install the daemon first" in result["msg"]


def test_missing_directories_below_root_are_created(capsys, args, root):
    nested = dict(args, files=[dict(path="maps/site/table", content="a b\n")], check=[])
    code, result = run(capsys, nested, check_mode=True)
    assert result["changed"] and not (root / "maps").exists()
    code, result = run(capsys, nested)
    assert result["changed"], result
    assert (root / "maps" / "site" / "table").read_text() == "a b\n"
    assert mode_of(root / "maps") == 0o755 and mode_of(root / "maps" / "site") == 0o755
    code, result = run(capsys, nested)
    assert not result["changed"]


def test_a_secret_file_never_shows_in_the_result_or_the_diff(capsys, args, root):
    secret = "[mx1.example.test]:587 app1@example.test:Sat3llite-Secret\n"
    args["files"].append(dict(path="sub/sasl_passwd", content=secret, mode="0600", secret=True))
    for check_mode in (True, False):
        code, result = run(capsys, args, check_mode=check_mode, diff=True)
        assert code == 0 and result["changed"]
        text = json.dumps(result)
        assert "Sat3llite-Secret" not in text, "the secret leaked into the result"
        (entry,) = [d for d in result["diff"] if d["after_header"].endswith("sasl_passwd")]
        assert entry["after"] == staged_config.SECRET_AFTER
    assert (root / "sub" / "sasl_passwd").read_text() == secret
    assert mode_of(root / "sub" / "sasl_passwd") == 0o600
    # A changed secret: the diff says so, and shows neither value.
    args["files"][-1]["content"] = secret.replace("Secret", "Changed")
    code, result = run(capsys, args, diff=True)
    (entry,) = result["diff"]
    assert (entry["before"], entry["after"]) == (staged_config.SECRET_BEFORE, staged_config.SECRET_AFTER)
    assert "Sat3llite" not in json.dumps(result)
    code, result = run(capsys, args, diff=True)
    assert code == 0 and not result["changed"]
