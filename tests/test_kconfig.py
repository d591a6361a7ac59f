# SPDX-License-Identifier: GPL-2.0
"""kconfig: fragment parsing, the dropped-option check, and real kconfig runs."""

from pathlib import Path

import pytest

from generator import kconfig, ops
from generator.errors import InfraError, UserError
from generator.worktree import Worktree

from conftest import need_tool, path_without

# feasibility §3 / §11.6: options that drop silently or matter for the counts.
ESSENTIAL = {
    "CONFIG_64BIT": "y", "CONFIG_SMP": "y", "CONFIG_ACPI": "y", "CONFIG_DMA_CMA": "y",
    "CONFIG_CMA": "y", "CONFIG_HUGETLBFS": "y", "CONFIG_HUGETLB_PAGE": "y", "CONFIG_SLUB": "y",
    "CONFIG_CC_OPTIMIZE_FOR_PERFORMANCE": "y", "CONFIG_KERNEL_GZIP": "y",
    "CONFIG_FUNCTION_PROFILER": "y", "CONFIG_DEBUG_FS": "y", "CONFIG_MEMORY_HOTREMOVE": "y",
    "CONFIG_MEMORY_ISOLATION": "y", "CONFIG_BLK_DEV_INITRD": "y", "CONFIG_SERIAL_8250_CONSOLE": "y",
    # error-paths.sh refuses an offline through debugfs notifier-error-inject/memory
    "CONFIG_NOTIFIER_ERROR_INJECTION": "y", "CONFIG_MEMORY_NOTIFIER_ERROR_INJECT": "y",
}


def test_parse_config_reads_set_and_unset() -> None:
    text = "# comment\nCONFIG_A=y\nCONFIG_B=\"x y\"\n# CONFIG_C is not set\nCONFIG_D=0x10\n"
    assert kconfig.parse_config(text) == {"CONFIG_A": "y", "CONFIG_B": '"x y"', "CONFIG_C": "n",
                                          "CONFIG_D": "0x10"}


def test_fragment_asks_for_the_essentials() -> None:
    wanted = kconfig.parse_config(kconfig.DEFAULT_FRAGMENT.read_text())
    for name, value in ESSENTIAL.items():
        if name != "CONFIG_HUGETLB_PAGE":  # selected by HUGETLBFS
            assert wanted.get(name) == value, name
    assert wanted["CONFIG_COMPACTION"] == "n"


def test_check_config_names_every_dropped_option(tmp_path: Path) -> None:
    frag = tmp_path / "extra.config"
    frag.write_text("CONFIG_A=y\nCONFIG_B=m\nCONFIG_C=y\n# CONFIG_D is not set\nCONFIG_E=42\n")
    dotconfig = tmp_path / ".config"
    dotconfig.write_text("CONFIG_A=y\nCONFIG_B=y\n# CONFIG_C is not set\nCONFIG_E=41\n")
    with pytest.raises(UserError) as err:
        kconfig.check_config(dotconfig, [frag])
    msg = str(err.value)
    assert "CONFIG_C=y (from extra.config; final .config: not set)" in msg
    assert "CONFIG_E=42 (from extra.config; final .config: =41)" in msg
    # =m is satisfied by =y (no modules), an unset option by its absence.
    assert "CONFIG_B" not in msg and "CONFIG_D" not in msg and "CONFIG_A" not in msg


@pytest.fixture(scope="module")
def src(real_tree: Path) -> Path:
    for tool in ("make", "gcc", "flex", "bison"):
        need_tool(tool)
    with Worktree(real_tree, "HEAD") as wt:
        return wt.path  # only read by kconfig (O= elsewhere); no run holds it


@pytest.mark.realtree
def test_real_config_keeps_every_option(src: Path) -> None:
    cfg = kconfig.make_config(src)  # uncached: the real tinyconfig/merge/olddefconfig
    final = kconfig.parse_config(cfg.path.read_text())
    for name, value in ESSENTIAL.items():
        assert final.get(name) == value, name
    assert final.get("CONFIG_COMPACTION", "n") == "n"
    assert len(cfg.sha256) == 64
    # Same inputs, same .config: the build dir key is stable.
    again = kconfig.make_config(src, tree_id="stable-test-id")
    assert again.sha256 == cfg.sha256
    assert kconfig.make_config(src, tree_id="stable-test-id").path == again.path


@pytest.mark.realtree
def test_a_kconfig_change_changes_the_kernel_cache_key(src: Path, tmp_path: Path) -> None:
    """Built kernels are cached per final .config: one option more or less is another kernel."""
    from generator import build

    base = kconfig.make_config(src, tree_id="key-test-id")
    off = tmp_path / "off.config"
    off.write_text("# CONFIG_MEMORY_NOTIFIER_ERROR_INJECT is not set\n")
    without = kconfig.make_config(src, [off], tree_id="key-test-id")
    assert kconfig.parse_config(without.path.read_text()).get("CONFIG_MEMORY_NOTIFIER_ERROR_INJECT") == "n"
    assert without.sha256 != base.sha256
    assert build.kernel_cache_path(without, "k" * 16) != build.kernel_cache_path(base, "k" * 16)


@pytest.mark.realtree
def test_real_dropped_option_is_a_clear_error(src: Path, tmp_path: Path) -> None:
    frag = tmp_path / "config"  # shaped like a selftests' config file
    frag.write_text("CONFIG_MEMORY_HOTPLUG=y\n"
                    "CONFIG_EXT4_FS_POSIX_ACL=y\n"  # depends on EXT4_FS, off in tinyconfig
                    "CONFIG_DRAINLAB_NO_SUCH_SYMBOL=y\n")
    with pytest.raises(UserError) as err:
        kconfig.make_config(src, [frag])
    msg = str(err.value)
    assert "CONFIG_EXT4_FS_POSIX_ACL=y (from config; final .config: not set)" in msg
    assert "CONFIG_DRAINLAB_NO_SUCH_SYMBOL=y" in msg
    assert "CONFIG_MEMORY_HOTPLUG" not in msg


@pytest.mark.realtree
@pytest.mark.parametrize("tool", ["flex", "bison"])
def test_missing_kconfig_tool_names_package(src: Path, tmp_path: Path, tool: str,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", path_without(tmp_path, tool))
    with pytest.raises(UserError, match=f"{tool} not found; install it: apt-get install {tool}"):
        kconfig.make_config(src)


@pytest.mark.realtree
def test_a_merge_config_failure_names_its_cause(real_tree: Path, tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """The tree's own merge_config.sh, given a fragment path that does not exist
    where it runs (issue 7's first-run failure): the error line is the script's
    cause, not its first 'Merging'/'Previous value' line, and the log keeps it all."""
    monkeypatch.setenv("DRAINLAB_CACHE", str(tmp_path / "cache"))
    (tmp_path / ".config").write_text("# CONFIG_KALLSYMS is not set\n")
    with pytest.raises(InfraError) as caught:
        ops.run(["sh", str(real_tree / "scripts/kconfig/merge_config.sh"), "-m", "-O",
                 str(tmp_path), str(tmp_path / ".config"), str(kconfig.DEFAULT_FRAGMENT),
                 "rel/config"], cwd=real_tree)
    line = caught.value.line()
    assert "(exit 1): The merge file 'rel/config' does not exist." in line, line
    log = Path(line.rsplit("full output in ", 1)[1])
    assert log.parent == tmp_path / "cache" / "logs"
    assert "Merging rel/config" in log.read_text()


def _profile_config(tmp_path: Path, profile: str) -> Path:
    from generator import selftests

    return selftests.render_selftests(tmp_path / profile, profile).directory / "config"


def test_debug_profile_fragment_changes_the_config_inputs_key(tmp_path: Path) -> None:
    """The debug profile's kconfig fragment reaches the selftests' config, so the
    cached .config (and with it the build dir and kernel keys) differ from quick's."""
    quick, debug = _profile_config(tmp_path, "quick"), _profile_config(tmp_path, "debug")
    assert kconfig.parse_config(debug.read_text()).items() >= {
        "CONFIG_DEBUG_KERNEL": "y", "CONFIG_DEBUG_VM": "y"}.items()
    assert "CONFIG_DEBUG_VM" not in kconfig.parse_config(quick.read_text())
    frags = (kconfig.DEFAULT_FRAGMENT,)
    key_quick = kconfig._inputs_key(tmp_path, "tree", (*frags, quick))
    key_debug = kconfig._inputs_key(tmp_path, "tree", (*frags, debug))
    assert key_quick != key_debug
    # An edit of the fragment file itself changes the key too (its text is in the config).
    assert kconfig._inputs_key(tmp_path, "tree", (*frags, quick)) == key_quick


@pytest.mark.realtree
def test_real_debug_profile_builds_a_different_kernel_config(src: Path, tmp_path: Path) -> None:
    quick = kconfig.make_config(src, [_profile_config(tmp_path, "quick")], tree_id="debug-key-test")
    debug = kconfig.make_config(src, [_profile_config(tmp_path, "debug")], tree_id="debug-key-test")
    final = kconfig.parse_config(debug.path.read_text())
    assert final.get("CONFIG_DEBUG_VM") == "y" and final.get("CONFIG_DEBUG_KERNEL") == "y"
    assert kconfig.parse_config(quick.path.read_text()).get("CONFIG_DEBUG_VM", "n") == "n"
    assert debug.sha256 != quick.sha256 and debug.short != quick.short
    assert ("CONFIG_DEBUG_VM", "y") in debug.requested
    from generator import build

    assert build.kernel_cache_path(debug, "k" * 16) != build.kernel_cache_path(quick, "k" * 16)
