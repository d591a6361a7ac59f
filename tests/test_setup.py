# SPDX-License-Identifier: GPL-2.0
"""tools/setup.sh installs every external command the code and the tests use.

The list of commands is derived from the source, not written down twice: the
names passed to require_tool()/need_tool()/shutil.which(), the *_TOOLS
tuples, ops.PACKAGE_OF, and argv[0] of every literal command list (or shell
string) handed to subprocess/ops/GitPython. Each must map to a Debian package
in ops.PACKAGE_OF, and that package must be in setup.sh's list, so a new
command cannot slip in without its install step (rsync once did).
"""

import ast
import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import need

from generator import ops

ROOT = Path(__file__).resolve().parent.parent
SOURCES = sorted([*ROOT.glob("generator/**/*.py"), *ROOT.glob("tests/*.py"),
                  *ROOT.glob("benchmarks/*.py")])
TOOL_CHECKS = {"require_tool", "need_tool", "which"}
RUNNERS = {"run", "Popen", "spawn", "stream", "check_output", "check_call", "call", "execute"}
# Resolved by path inside the venv or the interpreter itself, not by PATH.
NOT_COMMANDS = {"python", "python3"}


def _str(node: ast.AST, consts: dict[str, str]) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.Name):
        return consts.get(node.id)
    if isinstance(node, ast.Attribute):
        return consts.get(node.attr)
    return None


def _shell_words(script: str) -> set[str]:
    """First word of each simple command of a shell string (pipes, ;, &&, ||)."""
    words = set()
    for part in re.split(r"\|\|?|;|&&", script):
        tokens = shlex.split(part) if part.strip() else []
        if tokens:
            words.add(tokens[0])
    return words


def commands_in(path: Path, package_map: bool = True) -> dict[str, str]:
    """command -> 'file:line' of one place that uses it."""
    tree = ast.parse(path.read_text(), str(path))
    consts = {t.id: n.value.value for n in ast.walk(tree) if isinstance(n, ast.Assign)
              and isinstance(n.value, ast.Constant) and isinstance(n.value.value, str)
              for t in n.targets if isinstance(t, ast.Name)}
    found: dict[str, str] = {}

    def add(name: str | None, node: ast.AST) -> None:
        if name and "/" not in name and name not in NOT_COMMANDS:
            found.setdefault(name, f"{path.relative_to(ROOT)}:{getattr(node, 'lineno', 0)}")

    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and any(
                isinstance(t, ast.Name) and t.id.endswith("_TOOLS") for t in node.targets):
            for elt in getattr(node.value, "elts", []):
                add(_str(elt, consts), node)
        if package_map and isinstance(node, ast.Assign) and any(
                isinstance(t, ast.Name) and t.id == "PACKAGE_OF" for t in node.targets):
            for key in getattr(node.value, "keys", []):
                add(_str(key, consts) if key else None, node)
        if isinstance(node, ast.For) and isinstance(node.iter, (ast.Tuple, ast.List)):
            calls = [c for c in ast.walk(node) if isinstance(c, ast.Call)]
            if any(getattr(c.func, "attr", getattr(c.func, "id", "")) in TOOL_CHECKS for c in calls):
                for elt in node.iter.elts:
                    add(_str(elt, consts), node)
        if not isinstance(node, ast.Call) or not node.args:
            continue
        func = getattr(node.func, "attr", getattr(node.func, "id", "")).lstrip("_")
        first = node.args[0]
        if func in TOOL_CHECKS:
            add(_str(first, consts), node)
        elif func in RUNNERS:
            if isinstance(first, (ast.List, ast.Tuple)) and first.elts:
                add(_str(first.elts[0], consts), node)
            elif (script := _str(first, consts)) is not None and any(
                    k.arg == "shell" for k in node.keywords):
                for word in _shell_words(script):
                    add(word, node)
    return found


def used_commands(package_map: bool = True) -> dict[str, str]:
    found: dict[str, str] = {}
    for path in SOURCES:
        for name, where in commands_in(path, package_map).items():
            found.setdefault(name, where)
    return found


def setup_packages() -> set[str]:
    text = (ROOT / "tools" / "setup.sh").read_text()
    m = re.search(r'^PKGS="(.*?)"', text, re.M | re.S)
    assert m, "tools/setup.sh has no PKGS=\"...\" list"
    return set(m.group(1).replace("\\\n", " ").split())


def pip_test_extras() -> str:
    return (ROOT / "pyproject.toml").read_text()


def test_the_scan_finds_what_we_know_is_used() -> None:
    """The derivation itself can fail: it must see commands used each way."""
    used = used_commands(package_map=False)
    for name in ("git", "make", "qemu-system-x86_64", "busybox", "rsync", "sh", "sha256sum",
                 "cut", "setpriv", "bash", "tar", "mount"):
        assert name in used, name


def test_every_command_used_has_a_package() -> None:
    missing = {name: where for name, where in used_commands().items()
               if name not in ops.PACKAGE_OF}
    assert not missing, f"add these to ops.PACKAGE_OF (command -> Debian package): {missing}"


def test_setup_installs_every_package() -> None:
    pkgs = setup_packages()
    for name, where in sorted(used_commands().items()):
        pkg = ops.PACKAGE_OF.get(name)
        if pkg is None:
            continue  # the test above names it
        if pkg.startswith("pip:"):
            assert pkg[4:] in pip_test_extras(), (name, where, pkg)
        else:
            assert pkg in pkgs, f"{name} (used at {where}) needs {pkg} in tools/setup.sh PKGS"


def _dpkg_owner(name: str) -> set[str]:
    found = shutil.which(name)
    if found is None:
        return set()
    owners = set()
    for candidate in {found, str(Path(found).resolve()), f"/bin/{name}", f"/usr/bin/{name}",
                      f"/sbin/{name}", f"/usr/sbin/{name}"}:
        done = subprocess.run(["dpkg-query", "-S", candidate], capture_output=True, text=True)
        for line in done.stdout.splitlines() if done.returncode == 0 else []:
            if line.startswith("diversion"):
                continue
            owners |= {p.strip().split(":")[0] for p in line.split(": ", 1)[0].split(",")}
    return owners


@pytest.mark.parametrize("name", sorted(n for n, p in ops.PACKAGE_OF.items() if not p.startswith("pip:")))
def test_the_package_map_is_true(name: str) -> None:
    """PACKAGE_OF says where a command comes from; dpkg agrees on this machine."""
    need(shutil.which("dpkg-query") is not None, "not a Debian system")
    owners = _dpkg_owner(name)
    need(bool(owners), f"{name} is not installed (tools/setup.sh installs it)")
    pkg = ops.PACKAGE_OF[name]
    # perl's interpreter sits in perl-base, which the perl package depends on.
    depends = subprocess.run(["dpkg-query", "-W", "-f", "${Pre-Depends} ${Depends}", pkg],
                             capture_output=True, text=True).stdout
    provided = {pkg} | set(re.findall(r"([a-z0-9][a-z0-9.+-]+)", depends))
    assert provided & owners, (name, pkg, owners)
