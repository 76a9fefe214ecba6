"""Stand-in for the get-pip.py that ansible-test downloads, built on ensurepip.

Why: ansible-test runs each sanity test, and the unit tests, in virtual
environments of its own, created without pip. To put pip into them it
downloads a bootstrap script from
https://ci-files.testing.ansible.com/ansible-test/get-pip-<version>.py and
caches it as ~/.ansible/test/cache/get_pip_<version>.py. That host cannot be
reached from the machines this collection is developed on (PyPI can). Where
the cached file exists, ansible-test uses it and downloads nothing (see
bootstrap() in ansible_test/_util/target/setup/requirements.py), so
scripts/sanity.sh copies this file there, under the name for the pip version
ansible-test asks for, with HOME pointed at .cache/ansible-test/home so that
the real home directory is left alone.

What it does, for the Python that runs it (the new virtual environment):
  1. `python -m ensurepip`: installs the pip wheel that ships with Python;
  2. `python -m pip install <the arguments ansible-test passed>`, that is
     pip==<version ansible-test wants> (from PyPI). If that cannot be
     downloaded, it keeps the bundled pip and says so: any recent pip can
     install the sanity tests' pinned requirements;
  3. like get-pip.py, honours --no-setuptools/--no-wheel by removing what
     ensurepip added on its own.

ansible-test runs it as `python <pip wrapper> [pip options] pip==X.Y
--no-setuptools --no-wheel`, with the wrapper importing this file as __main__.
"""

import importlib.util
import subprocess
import sys

GET_PIP_ONLY = {"--no-setuptools", "--no-wheel"}


def run(*args, check=True):
    """Run the interpreter; show its output only when it fails."""
    done = subprocess.run([sys.executable, *args], capture_output=True, text=True)  # noqa: S603 - fixed interpreter
    if done.returncode and check:
        sys.stderr.write(done.stdout + done.stderr)
        raise SystemExit(f"get_pip_ensurepip: {' '.join(args)} failed")
    return done.returncode


def main(argv):
    options = [a for a in argv if a not in GET_PIP_ONLY]
    had = {name: importlib.util.find_spec(name) is not None for name in ("setuptools", "wheel")}
    run("-m", "ensurepip", "--upgrade", "--default-pip")
    if run("-m", "pip", "install", "--quiet", "--upgrade", *options, check=False) != 0:
        print(
            f"get_pip_ensurepip: could not install {' '.join(options)}; keeping the pip bundled with Python",
            file=sys.stderr,
        )
    for name, flag in (("setuptools", "--no-setuptools"), ("wheel", "--no-wheel")):
        if flag in argv and not had[name]:
            run("-m", "pip", "uninstall", "--yes", "--quiet", name, check=False)
    version = subprocess.check_output([sys.executable, "-m", "pip", "--version"], text=True)  # noqa: S603
    print(f"get_pip_ensurepip: {version.strip()}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
